# Copyright (c) mmstim contributors. All rights reserved.
"""TrainingClockHook and EpochSeedsHook: registered, and what they do."""
import random
from types import SimpleNamespace

import numpy as np
import torch
from mmpretrain.registry import HOOKS

import mmstim  # noqa: F401
from mmstim.engine import EpochSeedsHook, TrainingClockHook


def test_hooks_build_from_their_config_names():
    assert isinstance(HOOKS.build(dict(type='TrainingClockHook')),
                      TrainingClockHook)
    hook = HOOKS.build(dict(type='EpochSeedsHook', seed=3))
    assert isinstance(hook, EpochSeedsHook) and hook.seed == 3


def test_training_clock_carries_the_seconds_of_a_checkpoint(monkeypatch):
    now = [1000.0]
    monkeypatch.setattr('time.time', lambda: now[0])
    clock = TrainingClockHook()
    clock.after_load_checkpoint(None, dict(meta=dict(train_time_s=50.0)))
    clock.before_train(None)
    now[0] += 7.5
    checkpoint = dict(meta={})
    clock.before_save_checkpoint(None, checkpoint)
    assert checkpoint['meta']['train_time_s'] == 57.5
    assert clock.carried == 50.0
    # a checkpoint without the key: nothing carried
    clock.after_load_checkpoint(None, dict(meta={}))
    assert clock.seconds() == 7.5


def test_epoch_seeds_depend_on_seed_and_epoch_only():
    def draws(seed, epoch):
        random.random(), np.random.rand(), torch.rand(1)  # earlier draws
        EpochSeedsHook(seed).before_train_epoch(SimpleNamespace(epoch=epoch))
        return random.random(), float(np.random.rand()), float(torch.rand(1))

    first = draws(5, 2)
    assert draws(5, 2) == first
    assert draws(5, 3) != first and draws(6, 2) != first
    # the seed of (5, 2) is SeedSequence([5, 2])'s first word
    state = np.random.SeedSequence([5, 2]).generate_state(1)[0]
    np.random.seed(int(state))
    assert float(np.random.rand()) == first[1]
