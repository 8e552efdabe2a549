# Copyright (c) mmstim contributors. All rights reserved.
"""Shared set-up of the training and testing tools: distributed start on
machines with or without GPUs, input checks with clear messages."""
import argparse
import os
import os.path as osp
import sys
from typing import Iterable, Optional

import torch
import torch.distributed as torch_dist
from mmengine.config import Config, DictAction

LAUNCHERS = ('none', 'pytorch', 'slurm', 'mpi')

DATA_LAYOUTS = {
    'ImageNet': ('data/imagenet/train/<class>/*.JPEG, data/imagenet/val/'
                 '<class or flat>/*.JPEG, data/imagenet/meta/train.txt and '
                 'meta/val.txt (MMPretrain\'s ImageNet layout)'),
    'FashionMNIST': ('train-images-idx3-ubyte, train-labels-idx1-ubyte, '
                     't10k-images-idx3-ubyte, t10k-labels-idx1-ubyte; '
                     'prepare them with '
                     'tools/dataset_converters/prepare_fashion_mnist.py'),
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


def add_common_args(parser: argparse.ArgumentParser) -> None:
    """Options every training and testing tool takes.

    ``--work-dir``, ``--cfg-options``, ``--launcher``, ``--dist-backend``,
    ``--trust-checkpoint`` and ``--local-rank``.
    """
    parser.add_argument(
        '--work-dir',
        help="where logs and checkpoints go (default: the config's "
        'work_dir, else work_dirs/<config name>)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config entries, key=value with dotted keys; lists '
        'as key="[a,b]"')
    parser.add_argument(
        '--launcher', choices=LAUNCHERS, default='none', help='job launcher')
    parser.add_argument(
        '--dist-backend',
        choices=('nccl', 'gloo'),
        default=None,
        help='process-group backend; default nccl with GPUs, gloo without '
        '(several processes on CPUs)')
    parser.add_argument(
        '--trust-checkpoint',
        action='store_true',
        help='load the checkpoint even if it holds pickled Python objects '
        '(only for files you trust)')
    # torch.distributed.launch passes --local-rank; torchrun sets LOCAL_RANK
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def add_train_args(parser: argparse.ArgumentParser) -> None:
    """Options of the training tools: resume, AMP, lr scaling."""
    parser.add_argument(
        '--resume',
        nargs='?',
        type=str,
        const='auto',
        help='resume from PATH; without PATH, from the latest checkpoint '
        'of the work dir')
    parser.add_argument(
        '--amp',
        action='store_true',
        help='automatic mixed precision (needs a CUDA GPU)')
    parser.add_argument(
        '--auto-scale-lr',
        action='store_true',
        help='scale the lr linearly with the total batch size')


def load_config(args: argparse.Namespace) -> Config:
    """The config with ``--cfg-options``, launcher and work dir applied."""
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    cfg = Config.fromfile(args.config)
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    cfg.launcher = args.launcher
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        name = osp.splitext(osp.basename(args.config))[0]
        cfg.work_dir = osp.join('./work_dirs', name)
    if args.launcher != 'none':
        use_cpu_model_wrapper(cfg)
    return cfg


def apply_train_args(cfg: Config, args: argparse.Namespace,
                     safe_hook_type: str = 'SafeCheckpointHook') -> None:
    """Apply ``--amp``, ``--auto-scale-lr`` and ``--resume`` to a config.

    Also adds the safe checkpoint hook unless the config has it, so every
    checkpoint loads with ``torch.load(weights_only=True)``.

    Args:
        cfg (Config): The training config, changed in place.
        args (argparse.Namespace): Parsed with :func:`add_train_args`.
        safe_hook_type (str): Registry name of ``SafeCheckpointHook`` in
            the config's scope.

    Raises:
        RuntimeError: ``--amp`` without a CUDA GPU.
        ValueError: ``--auto-scale-lr`` on a config without a base batch.
        FileNotFoundError: ``--resume PATH`` names no file.
    """
    if args.amp:
        check_amp_available()
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
    if args.auto_scale_lr:
        if 'base_batch_size' not in cfg.get('auto_scale_lr', {}):
            raise ValueError(f'--auto-scale-lr: {args.config} sets no '
                             f'auto_scale_lr.base_batch_size.')
        cfg.auto_scale_lr.enable = True
    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        if not osp.isfile(args.resume):
            raise FileNotFoundError(
                f'--resume {args.resume}: no such checkpoint file.')
        cfg.resume = True
        cfg.load_from = args.resume
    hooks = list(cfg.get('custom_hooks', []))
    if not any(
            str(hook.get('type')).endswith('SafeCheckpointHook')
            for hook in hooks):
        cfg.custom_hooks = hooks + [dict(type=safe_hook_type)]


def close_distributed() -> None:
    """Destroy the process group, if any, before the interpreter exits.

    All ranks first meet at a barrier, so that none tears its connections
    down while a peer still talks to it (gloo then aborts the process).
    """
    if torch_dist.is_available() and torch_dist.is_initialized():
        try:
            torch_dist.barrier()
        finally:
            torch_dist.destroy_process_group()


def exit_tool(code: int) -> None:
    """Exit a tool; a distributed rank skips interpreter teardown.

    The process group is already closed (:func:`close_distributed`) and all
    outputs are written. At interpreter teardown a gloo rank can still abort
    ("terminate called without an active exception") while its peer shuts
    down, turning a finished run into a failed one; ``os._exit`` after
    flushing the standard streams avoids that teardown.
    """
    if int(os.environ.get('WORLD_SIZE', '1')) > 1:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)
