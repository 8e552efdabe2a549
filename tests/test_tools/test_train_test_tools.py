# Copyright (c) mmstim contributors. All rights reserved.
"""tools/train.py, tools/test.py and tools/dist_train.sh, end to end on CPU.

Two processes with the gloo backend stand for two GPUs.
"""
import json
import os
import os.path as osp
import re
import subprocess
import sys

import pytest
import torch
from helpers import tiny_data_options, top1_accuracy, write_tiny_fashion_mnist

from mmstim.analysis import logged_train_scalars

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
STPP = osp.join(REPO, 'configs', 'fashion_mnist',
                'resnet14_stpp_fashion-mnist.py')


def write_config(path, data_root, max_iters):
    """An iteration-based ST++ config on the tiny data."""
    options = tiny_data_options(data_root, batch_size=8)
    lines = [f'_base_ = [{STPP!r}]']
    lines += [
        "train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', "
        f'max_iters={max_iters}, val_interval=1000)',
        "train_dataloader = dict(sampler=dict(type='InfiniteSampler'))",
        'param_scheduler = []',
        "default_hooks = dict(checkpoint=dict(type='CheckpointHook', "
        'interval=2, by_epoch=False), logger=dict(interval=1))',
        'randomness = dict(seed=5)',
        "log_level = 'WARNING'",
    ]
    with open(path, 'w') as f:
        f.write('\n'.join(lines) + '\n')
    return [f'{k}={v}' for k, v in options.items()]


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    root = tmp_path_factory.mktemp('fmnist')
    write_tiny_fashion_mnist(str(root), num_train=40, num_test=20)
    return str(root)


def run(command, **kwargs):
    env = dict(os.environ, PYTHON=sys.executable, OMP_NUM_THREADS='1',
               PORT=str(29500 + os.getpid() % 1000))
    return subprocess.run(command, cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=600, **kwargs)


def dist_train(config, gpus, *args):
    result = run(['bash', 'tools/dist_train.sh', config, str(gpus), *args])
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[
        -3000:]
    return result


def logged_subnets(work_dir):
    """Kept depth and side of every iteration, from the runs' scalar logs."""
    return {step: (record['kept_depth'], record['subnet_side'])
            for step, record in logged_train_scalars(work_dir).items()
            if 'kept_depth' in record}


def test_dist_train_two_processes_and_resume(tmp_path, data_root):
    full_cfg = str(tmp_path / 'full.py')
    options = write_config(full_cfg, data_root, max_iters=4)
    part_cfg = str(tmp_path / 'part.py')
    write_config(part_cfg, data_root, max_iters=2)
    full_dir, part_dir = str(tmp_path / 'full'), str(tmp_path / 'part')

    dist_train(full_cfg, 2, '--work-dir', full_dir, '--cfg-options',
               *options)
    assert osp.isfile(osp.join(full_dir, 'iter_4.pth'))
    dist_train(part_cfg, 2, '--work-dir', part_dir, '--cfg-options',
               *options)
    assert osp.isfile(osp.join(part_dir, 'iter_2.pth'))
    # resume (latest checkpoint of the work dir) and train to iteration 4
    dist_train(full_cfg, 2, '--work-dir', part_dir, '--resume',
               '--cfg-options', *options)

    full_draws = logged_subnets(full_dir)
    part_draws = logged_subnets(part_dir)
    assert sorted(part_draws) == [1, 2, 3, 4]
    assert part_draws == full_draws
    full = torch.load(osp.join(full_dir, 'iter_4.pth'), weights_only=True)
    resumed = torch.load(osp.join(part_dir, 'iter_4.pth'), weights_only=True)
    assert resumed['meta']['iter'] == 4
    for key, value in full['state_dict'].items():
        assert torch.equal(value, resumed['state_dict'][key]), key


@pytest.fixture(scope='module')
def checkpoint(tmp_path_factory, data_root):
    root = tmp_path_factory.mktemp('single')
    config = str(root / 'tiny.py')
    options = write_config(config, data_root, max_iters=2)
    result = run([sys.executable, 'tools/train.py', config, '--work-dir',
                  str(root), '--cfg-options', *options])
    assert result.returncode == 0, result.stderr[-3000:]
    return config, str(root / 'iter_2.pth'), options


def test_test_tool_writes_metrics(tmp_path, checkpoint, data_root):
    config, ckpt, options = checkpoint
    out = str(tmp_path / 'metrics.json')
    result = run([sys.executable, 'tools/test.py', config, ckpt, '--out',
                  out, '--work-dir', str(tmp_path), '--cfg-options',
                  *options])
    assert result.returncode == 0, result.stderr[-3000:]
    with open(out) as f:
        metrics = json.load(f)['metrics']

    from mmengine.config import Config
    from mmengine.runner import Runner

    import mmstim  # noqa: F401
    cfg = Config.fromfile(config)
    cfg.merge_from_dict(tiny_data_options(data_root, batch_size=8))
    cfg.work_dir = str(tmp_path / 'direct')
    cfg.load_from = ckpt
    runner = Runner.from_cfg(cfg)
    runner.load_or_resume()
    expected = top1_accuracy(runner.model, runner.test_dataloader)
    assert metrics['accuracy/top1'] == pytest.approx(expected, abs=1e-3)


@pytest.mark.parametrize('args, message', [
    (['--resume', '/nonexistent/iter_9.pth'], 'no such checkpoint'),
    (['--amp'], '--amp needs a CUDA GPU'),
    (['--cfg-options', 'train_dataloader.dataset.data_root=/no/data'],
     "data_root '/no/data'.*t10k-images-idx3-ubyte"),
])
def test_train_bad_input(args, message):
    result = run([sys.executable, 'tools/train.py', STPP, *args])
    assert result.returncode != 0
    assert re.search(message, result.stderr), result.stderr


@pytest.mark.parametrize('gpus', ['0', 'two'])
def test_dist_train_bad_gpu_count(gpus):
    result = run(['bash', 'tools/dist_train.sh', STPP, gpus])
    assert result.returncode == 2
    assert f"GPUS must be a positive integer, got '{gpus}'" in result.stderr


def test_bad_launcher():
    result = run([sys.executable, 'tools/train.py', STPP, '--launcher',
                  'kubernetes'])
    assert result.returncode == 2
    assert "invalid choice: 'kubernetes'" in result.stderr


def test_list_draws_equals_what_ran(tmp_path, checkpoint):
    config, ckpt, options = checkpoint
    out = str(tmp_path / 'draws.json')
    result = run([sys.executable, 'tools/analysis/list_draws.py', config,
                  '--iters', '0', '2', '--input-side', '28', '--out', out,
                  '--cfg-options', *options])
    assert result.returncode == 0, result.stderr[-3000:]
    with open(out) as f:
        rows = json.load(f)
    logged = logged_subnets(osp.dirname(ckpt))
    assert sorted(logged) == [1, 2]  # the log counts iterations from 1
    for step, (depth, side) in logged.items():
        ran = [row for row in rows if row['iter'] == step - 1]
        assert len(ran) == 2  # num_subnets of the ST++ config
        assert depth == pytest.approx(sum(sum(r['depths']) for r in ran) / 2)
        assert side == pytest.approx(sum(r['side'] for r in ran) / 2)
