# Copyright (c) mmstim contributors. All rights reserved.
import time

from mmengine.hooks import Hook
from mmpretrain.registry import HOOKS


@HOOKS.register_module()
class TrainingClockHook(Hook):
    """Seconds of training, carried across a resume in the checkpoints'
    ``meta`` as ``train_time_s``. Time after the last checkpoint of an
    interrupted training is not counted: that work is done again."""

    priority = 'LOWEST'  # after the checkpoint hook of the same epoch

    def __init__(self) -> None:
        self.carried = 0.0
        self.started = time.time()

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        self.carried = checkpoint['meta'].get('train_time_s', 0.0)

    def before_train(self, runner) -> None:
        self.started = time.time()

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        checkpoint['meta']['train_time_s'] = self.seconds()

    def seconds(self) -> float:
        """The training seconds so far, resumed ones included."""
        return self.carried + time.time() - self.started
