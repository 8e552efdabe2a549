# Copyright (c) mmstim contributors. All rights reserved.
"""Two processes on the CPU (gloo) stand for two GPUs."""
import copy
import os
import socket

import pytest
import torch
import torch.distributed as torch_dist
import torch.multiprocessing as mp
from helpers import fake_batch, tiny_classifier
from mmengine.model import MMDistributedDataParallel
from mmengine.optim import OptimWrapper

from mmstim.engine import stimulative_model
from mmstim.models import StimulativeDDP
from mmstim.models.subnets import SubnetDraw, to_mask

SPECS = [(1, 2, 3), (2, 4, 1)]
US = [0.3, 0.8]
LR = 0.1


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def draws(model):
    return [SubnetDraw(to_mask(model.residual_stages, s), u)
            for s, u in zip(SPECS, US)]


def batch_for(rank, iteration):
    return fake_batch(batch_size=4, seed=100 * iteration + rank)


def worker(rank, world_size, port, out_dir, accumulative_counts):
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))
    torch_dist.init_process_group(
        'gloo', rank=rank, world_size=world_size)
    try:
        # every rank starts from DIFFERENT weights and BN statistics
        model = tiny_classifier(dtype=torch.float64, seed=rank)
        for buffer in model.buffers():
            if buffer.is_floating_point():
                buffer.add_(rank)
        model.train()
        wrapped = StimulativeDDP(model, device_ids=[0])
        wrapper = OptimWrapper(
            torch.optim.SGD(model.parameters(), lr=LR),
            accumulative_counts=accumulative_counts)
        wrapper.initialize_count_status(model, 0, accumulative_counts)
        for iteration in range(accumulative_counts):
            model.set_subnets(draws(model))
            wrapped.train_step(batch_for(rank, iteration), wrapper)
        torch.save(
            dict(params={n: p.detach() for n, p in model.named_parameters()},
                 buffers={n: b for n, b in model.named_buffers()},
                 inner_count=wrapper._inner_count),
            os.path.join(out_dir, f'rank{rank}.pth'))

        # MMEngine's plain wrapper would bypass the stimulative train step
        plain = MMDistributedDataParallel(
            tiny_classifier(seed=0), device_ids=None)
        plain.module.set_subnets([])
        error = ''
        try:
            plain.train_step(
                batch_for(rank, 0),
                OptimWrapper(torch.optim.SGD(plain.parameters(), lr=LR)))
        except RuntimeError as e:
            error = str(e)
        hook_error = ''
        try:
            stimulative_model(plain)
        except TypeError as e:
            hook_error = str(e)
        with open(os.path.join(out_dir, f'errors{rank}.txt'), 'w') as f:
            f.write(error + '\n' + hook_error)
    finally:
        torch_dist.destroy_process_group()


def reference(accumulative_counts):
    """One process applying the average of both ranks' gradients."""
    model = tiny_classifier(dtype=torch.float64, seed=0)
    model.train()
    grads = {n: torch.zeros_like(p) for n, p in model.named_parameters()}
    rank0_buffers = None
    for rank in range(2):
        replica = copy.deepcopy(model)
        wrapper = OptimWrapper(
            torch.optim.SGD(replica.parameters(), lr=LR),
            accumulative_counts=accumulative_counts)
        wrapper.initialize_count_status(replica, 0, accumulative_counts)
        for iteration in range(accumulative_counts):
            replica.set_subnets(draws(replica))
            replica.accumulate_gradients(batch_for(rank, iteration), wrapper)
        for name, param in replica.named_parameters():
            grads[name] += param.grad / 2
        if rank == 0:
            rank0_buffers = dict(replica.named_buffers())
    params = {n: p.detach() - LR * grads[n]
              for n, p in model.named_parameters()}
    return params, rank0_buffers


@pytest.mark.parametrize('accumulative_counts', [1, 2])
def test_two_ranks_equal_single_process_reference(tmp_path,
                                                  accumulative_counts):
    mp.start_processes(
        worker, args=(2, free_port(), str(tmp_path), accumulative_counts),
        nprocs=2, join=True, start_method='spawn')
    ranks = [torch.load(tmp_path / f'rank{r}.pth', weights_only=True)
             for r in range(2)]
    params, buffers = reference(accumulative_counts)
    for name, expected in params.items():
        assert torch.equal(ranks[0]['params'][name],
                           ranks[1]['params'][name]), name
        assert torch.allclose(ranks[0]['params'][name], expected,
                              rtol=1e-10, atol=1e-13), name
    for name, expected in buffers.items():
        assert torch.equal(ranks[0]['buffers'][name],
                           ranks[1]['buffers'][name]), name
        assert torch.allclose(ranks[0]['buffers'][name], expected,
                              rtol=1e-10, atol=1e-13), name
    assert ranks[0]['inner_count'] == accumulative_counts
    errors = (tmp_path / 'errors0.txt').read_text()
    assert "forward(mode='loss')" in errors
    assert 'StimulativeDDP' in errors and 'MMDistributedDataParallel' in errors


def single_process_group_worker(rank, port, out_dir):
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port),
                      RANK='0', WORLD_SIZE='1', LOCAL_RANK='0')
    torch_dist.init_process_group('gloo', rank=0, world_size=1)
    try:
        from helpers import tiny_runner_kwargs
        from mmengine.runner import Runner
        runner = Runner(
            **tiny_runner_kwargs(out_dir, max_iters=2),
            launcher='pytorch',
            cfg=dict(model_wrapper_cfg=dict(type='StimulativeDDP')))
        runner.train()
        with open(os.path.join(out_dir, 'wrapper.txt'), 'w') as f:
            f.write(type(runner.model).__name__)
    finally:
        torch_dist.destroy_process_group()


def test_runner_wraps_model_in_stimulative_ddp(tmp_path):
    mp.start_processes(
        single_process_group_worker, args=(free_port(), str(tmp_path)),
        nprocs=1, join=True, start_method='spawn')
    assert (tmp_path / 'wrapper.txt').read_text() == 'StimulativeDDP'
