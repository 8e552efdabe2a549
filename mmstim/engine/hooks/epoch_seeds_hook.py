# Copyright (c) mmstim contributors. All rights reserved.
import numpy as np
from mmengine.hooks import Hook
from mmengine.runner import set_random_seed
from mmpretrain.registry import HOOKS


@HOOKS.register_module()
class EpochSeedsHook(Hook):
    """Seeds this process's random generators from (the run's seed, epoch).

    The transforms of a loader without workers, and drop path, draw from
    them: seeded per epoch, a resumed training draws what the uninterrupted
    one would. (MMEngine seeds non-persistent loader workers every epoch.)
    """

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def before_train_epoch(self, runner) -> None:
        state = np.random.SeedSequence([self.seed, runner.epoch])
        set_random_seed(int(state.generate_state(1)[0]))
