# Copyright (c) mmstim contributors. All rights reserved.
import os.path as osp

import torch
from helpers import tiny_runner_kwargs
from mmengine.runner import Runner


def logged(runner, name):
    return runner.message_hub.get_scalar(f'train/{name}').data[0].tolist()


def test_resumed_run_draws_and_ends_like_uninterrupted(tmp_path):
    full_dir, part_dir = str(tmp_path / 'full'), str(tmp_path / 'part')
    full = Runner(**tiny_runner_kwargs(full_dir, max_iters=6,
                                       checkpoint_interval=3, seed=11))
    full.train()

    first = Runner(**tiny_runner_kwargs(part_dir, max_iters=3,
                                        checkpoint_interval=3, seed=11))
    first.train()
    resumed = Runner(**dict(
        tiny_runner_kwargs(part_dir, max_iters=6, checkpoint_interval=3,
                           seed=11),
        resume=True, load_from=osp.join(part_dir, 'iter_3.pth')))
    resumed.train()

    assert resumed.iter == 6
    # what ran at every iteration (the message hub is restored on resume)
    for name in ('kept_depth', 'subnet_side', 'loss_kl'):
        assert len(logged(resumed, name)) == 6
        assert logged(resumed, name) == logged(full, name), name
    assert len(set(logged(full, 'kept_depth'))) > 1
    for (name, a), b in zip(full.model.state_dict().items(),
                            resumed.model.state_dict().values()):
        assert torch.equal(a, b), name
