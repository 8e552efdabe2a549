# Copyright (c) mmstim contributors. All rights reserved.
import glob
import json
import os.path as osp

import torch
from mmengine.runner import Runner

from mmstim.testing import tiny_runner_kwargs


def draws_by_iter(work_dir):
    records = {}
    for path in sorted(glob.glob(
            osp.join(work_dir, '*', 'subnet_draws.jsonl'))):
        with open(path) as f:
            for line in f:
                record = json.loads(line)
                records[record['iter']] = record['subnets']
    return records


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
    full_draws, part_draws = draws_by_iter(full_dir), draws_by_iter(part_dir)
    assert sorted(part_draws) == list(range(6))
    assert part_draws == full_draws
    for (name, a), b in zip(full.model.state_dict().items(),
                            resumed.model.state_dict().values()):
        assert torch.equal(a, b), name
