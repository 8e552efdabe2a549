# Copyright (c) mmstim contributors. All rights reserved.
"""Shared set-up of the training and testing tools: distributed start on
machines with or without GPUs, input checks with clear messages."""
import os
import os.path as osp
from typing import Iterable, Optional

import torch
import torch.distributed as torch_dist
from mmengine.config import Config

LAUNCHERS = ('none', 'pytorch', 'slurm', 'mpi')

DATA_LAYOUTS = {
    'ImageNet': ('data/imagenet/train/<class>/*.JPEG, data/imagenet/val/'
                 '<class or flat>/*.JPEG, data/imagenet/meta/train.txt and '
                 'meta/val.txt (MMPretrain\'s ImageNet layout)'),
    'FashionMNIST': ('train-images-idx3-ubyte, train-labels-idx1-ubyte, '
                     't10k-images-idx3-ubyte, t10k-labels-idx1-ubyte; '
                     'prepare them with tools/data/prepare_fashion_mnist.py'),
}


def default_dist_backend() -> str:
    """``nccl`` where CUDA is available, ``gloo`` otherwise."""
    return 'nccl' if torch.cuda.is_available() else 'gloo'


def init_distributed(launcher: str, backend: Optional[str] = None) -> None:
    """Start the process group for a launcher, also on machines without GPUs.

    MMEngine's ``init_dist`` selects a CUDA device whatever the backend;
    with ``gloo`` the process group is created here instead, and the Runner
    then uses it as it is.

    Args:
        launcher (str): One of ``none``, ``pytorch``, ``slurm``, ``mpi``.
        backend (str, optional): ``nccl`` or ``gloo``; None picks
            :func:`default_dist_backend`.
    """
    if launcher not in LAUNCHERS:
        raise ValueError(f'Unknown launcher {launcher!r}; allowed: '
                         f'{", ".join(LAUNCHERS)}.')
    if launcher == 'none' or torch_dist.is_initialized():
        return
    backend = backend or default_dist_backend()
    if backend == 'nccl':
        if not torch.cuda.is_available():
            raise RuntimeError('--dist-backend nccl needs GPUs; none is '
                               'available. Use --dist-backend gloo.')
        from mmengine.dist import init_dist
        init_dist(launcher, backend='nccl')
        return
    if launcher == 'slurm':
        _slurm_environment()
    elif launcher == 'mpi':
        os.environ.setdefault('RANK', os.environ.get('OMPI_COMM_WORLD_RANK',
                                                     '0'))
        os.environ.setdefault(
            'WORLD_SIZE', os.environ.get('OMPI_COMM_WORLD_SIZE', '1'))
        os.environ.setdefault(
            'LOCAL_RANK', os.environ.get('OMPI_COMM_WORLD_LOCAL_RANK', '0'))
    for name in ('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT'):
        if name not in os.environ:
            raise RuntimeError(
                f'Launcher {launcher!r} did not set {name}; start the tool '
                f'with torchrun (tools/dist_train.sh) or srun.')
    torch_dist.init_process_group(backend=backend)


def _slurm_environment() -> None:
    os.environ.setdefault('RANK', os.environ.get('SLURM_PROCID', '0'))
    os.environ.setdefault('WORLD_SIZE', os.environ.get('SLURM_NTASKS', '1'))
    os.environ.setdefault('LOCAL_RANK', os.environ.get('SLURM_LOCALID', '0'))
    os.environ.setdefault('MASTER_PORT', '29500')
    if 'MASTER_ADDR' not in os.environ:
        import subprocess
        nodes = os.environ.get('SLURM_NODELIST', '127.0.0.1')
        first = subprocess.getoutput(
            f'scontrol show hostname {nodes} | head -n1')
        os.environ['MASTER_ADDR'] = first or '127.0.0.1'


def use_cpu_model_wrapper(cfg: Config) -> None:
    """Let MMEngine's DDP wrappers wrap CPU modules (no ``device_ids``)."""
    if torch.cuda.is_available():
        return
    wrapper = cfg.get('model_wrapper_cfg') or dict(
        type='MMDistributedDataParallel')
    wrapper['device_ids'] = None
    cfg.model_wrapper_cfg = wrapper


def check_amp_available() -> None:
    """Raise a clear error when mixed precision is asked for without GPU."""
    if not torch.cuda.is_available():
        raise RuntimeError(
            '--amp needs a CUDA GPU (automatic mixed precision with loss '
            'scaling); none is available on this machine. Train without '
            '--amp.')


def check_data_roots(cfg: Config,
                     loaders: Iterable[str] = ('train_dataloader',
                                               'val_dataloader',
                                               'test_dataloader')) -> None:
    """Raise a clear error when a dataset's ``data_root`` is missing.

    Args:
        cfg (Config): The experiment config.
        loaders (Iterable[str]): The data loader keys to check.
    """
    for key in loaders:
        loader = cfg.get(key)
        if not loader or not isinstance(loader.get('dataset'), dict):
            continue
        dataset = loader['dataset']
        root = dataset.get('data_root')
        if root and not osp.isdir(root):
            layout = DATA_LAYOUTS.get(
                dataset.get('type'), 'the layout the dataset type expects')
            raise FileNotFoundError(
                f'{key}: data_root {root!r} of dataset '
                f'{dataset.get("type")} does not exist. Expected: {layout}. '
                f'Set it with --cfg-options {key}.dataset.data_root=PATH.')
