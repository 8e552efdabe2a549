# Copyright (c) mmstim contributors. All rights reserved.
"""What the training and testing tools share: options, config loading,
distributed start with or without GPUs, the Runner with the safe loader."""
import argparse
import os
import os.path as osp
import sys
from typing import Callable, Iterable, Optional

import torch
import torch.distributed as torch_dist
from mmengine.config import Config, DictAction
from mmengine.runner import Runner

from .checkpoint import register_safe_checkpoint_loader
from .env import require_mmcv_ops

LAUNCHERS = ('none', 'pytorch', 'slurm', 'mpi')
#: A launcher's variables for torchrun's RANK, WORLD_SIZE and LOCAL_RANK.
LAUNCHER_ENV = {
    'slurm': ('SLURM_PROCID', 'SLURM_NTASKS', 'SLURM_LOCALID'),
    'mpi': ('OMPI_COMM_WORLD_RANK', 'OMPI_COMM_WORLD_SIZE',
            'OMPI_COMM_WORLD_LOCAL_RANK'),
}
DATA_LAYOUTS = {
    'ImageNet': ('data/imagenet/train/<class>/*.JPEG, data/imagenet/val/'
                 '<class or flat>/*.JPEG, data/imagenet/meta/train.txt and '
                 'meta/val.txt (MMPretrain\'s ImageNet layout)'),
    'FashionMNIST': ('train-images-idx3-ubyte, train-labels-idx1-ubyte, '
                     't10k-images-idx3-ubyte, t10k-labels-idx1-ubyte; '
                     'prepare them with `make data`'),
}


def init_distributed(launcher: str, backend: Optional[str] = None) -> None:
    """Start the process group for a launcher, also on machines without GPUs.

    MMEngine's ``init_dist`` selects a CUDA device whatever the backend, so
    with ``gloo`` the process group is created here; the Runner then uses
    it as it is. ``backend`` None picks ``nccl`` where CUDA is available,
    ``gloo`` otherwise.
    """
    if launcher == 'none' or torch_dist.is_initialized():
        return
    backend = backend or ('nccl' if torch.cuda.is_available() else 'gloo')
    if backend == 'nccl':
        if not torch.cuda.is_available():
            raise RuntimeError('--dist-backend nccl needs GPUs; none is '
                               'available. Use --dist-backend gloo.')
        from mmengine.dist import init_dist
        init_dist(launcher, backend='nccl')
        return
    for name, source in zip(('RANK', 'WORLD_SIZE', 'LOCAL_RANK'),
                            LAUNCHER_ENV.get(launcher, ())):
        os.environ.setdefault(name, os.environ.get(source, '0'))
    if launcher == 'slurm':
        os.environ.setdefault('MASTER_PORT', '29500')
    if launcher == 'slurm' and 'MASTER_ADDR' not in os.environ:
        import subprocess
        nodes = os.environ.get('SLURM_NODELIST', '127.0.0.1')
        first = subprocess.getoutput(
            f'scontrol show hostname {nodes} | head -n1')
        os.environ['MASTER_ADDR'] = first or '127.0.0.1'
    for name in ('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT'):
        if name not in os.environ:
            raise RuntimeError(
                f'Launcher {launcher!r} did not set {name}; start the tool '
                f'with torchrun (tools/dist_train.sh) or srun.')
    torch_dist.init_process_group(backend=backend)


def check_data_roots(cfg: Config,
                     loaders: Iterable[str] = ('train_dataloader',
                                               'val_dataloader',
                                               'test_dataloader')) -> None:
    """Raise a clear error when a dataset's ``data_root`` is missing."""
    for key in loaders:
        dataset = (cfg.get(key) or {}).get('dataset')
        root = dataset.get('data_root') if isinstance(dataset, dict) else None
        if root and not osp.isdir(root):
            layout = DATA_LAYOUTS.get(
                dataset.get('type'), 'the layout the dataset type expects')
            raise FileNotFoundError(
                f'{key}: data_root {root!r} of dataset '
                f'{dataset.get("type")} does not exist. Expected: {layout}. '
                f'Set it with --cfg-options {key}.dataset.data_root=PATH.')


def add_common_args(parser: argparse.ArgumentParser,
                    train: bool = False) -> None:
    """Options of the training (``train=True``) and testing tools."""
    parser.add_argument(
        '--work-dir',
        help="where logs and checkpoints go (default: the config's "
        'work_dir, else work_dirs/<config name>)')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config entries, key=value with dotted keys')
    parser.add_argument(
        '--launcher', choices=LAUNCHERS, default='none', help='job launcher')
    parser.add_argument(
        '--dist-backend', choices=('nccl', 'gloo'),
        help='process-group backend; default nccl with GPUs, gloo without '
        '(several processes on CPUs)')
    parser.add_argument(
        '--trust-checkpoint', action='store_true',
        help='load the checkpoint even if it holds pickled Python objects '
        '(only for files you trust)')
    # torch.distributed.launch passes --local-rank; torchrun sets LOCAL_RANK
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    if not train:
        return
    parser.add_argument(
        '--resume', nargs='?', const='auto',
        help='resume from PATH; without PATH, from the latest checkpoint '
        'of the work dir')
    parser.add_argument(
        '--amp', action='store_true',
        help='automatic mixed precision (needs a CUDA GPU)')
    parser.add_argument(
        '--auto-scale-lr', action='store_true',
        help='scale the lr linearly with the total batch size')


def load_config(config: str, cfg_options: Optional[dict] = None,
                launcher: str = 'none', work_dir: Optional[str] = None,
                local_rank: int = 0) -> Config:
    """The config file with overrides, launcher and work dir applied.

    For distributed runs without GPUs, MMEngine's DDP wrappers get
    ``device_ids=None`` (PyTorch refuses device ids for CPU modules).

    Raises:
        MissingMmcvOpsError: An MMDet config (``default_scope='mmdet'``)
            where mmcv's compiled ops do not load.
    """
    os.environ.setdefault('LOCAL_RANK', str(local_rank))
    cfg = Config.fromfile(config)
    if cfg.get('default_scope') == 'mmdet':
        require_mmcv_ops(f'The MMDet config {config}')
    cfg.merge_from_dict(cfg_options or {})
    cfg.launcher = launcher
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir') is None:
        name = osp.splitext(osp.basename(config))[0]
        cfg.work_dir = osp.join('./work_dirs', name)
    if launcher != 'none' and not torch.cuda.is_available():
        cfg.model_wrapper_cfg = dict(
            cfg.get('model_wrapper_cfg') or
            dict(type='MMDistributedDataParallel'), device_ids=None)
    return cfg


def apply_train_args(cfg: Config, amp: bool = False,
                     auto_scale_lr: bool = False,
                     resume: Optional[str] = None,
                     safe_hook_type: str = 'SafeCheckpointHook') -> None:
    """Apply the options ``--amp``, ``--auto-scale-lr`` and ``--resume``
    (a path, or ``'auto'`` for the work dir's latest) to a config.

    Also adds the safe checkpoint hook (``safe_hook_type``: its registry
    name in the config's scope) unless the config has it, so every
    checkpoint loads with ``torch.load(weights_only=True)``.

    Raises:
        RuntimeError: ``--amp`` without a CUDA GPU.
        ValueError: ``--auto-scale-lr`` on a config without a base batch.
        FileNotFoundError: ``--resume PATH`` names no file.
    """
    if amp:
        if not torch.cuda.is_available():
            raise RuntimeError(
                '--amp needs a CUDA GPU (automatic mixed precision with loss '
                'scaling); none is available on this machine. Train without '
                '--amp.')
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
    if auto_scale_lr:
        if 'base_batch_size' not in cfg.get('auto_scale_lr', {}):
            raise ValueError(f'--auto-scale-lr: {cfg.filename} sets no '
                             f'auto_scale_lr.base_batch_size.')
        cfg.auto_scale_lr.enable = True
    if resume is not None:
        if resume != 'auto' and not osp.isfile(resume):
            raise FileNotFoundError(
                f'--resume {resume}: no such checkpoint file.')
        cfg.resume = True
        cfg.load_from = None if resume == 'auto' else resume
    hooks = list(cfg.get('custom_hooks', []))
    if not any(str(hook.get('type')).endswith('SafeCheckpointHook')
               for hook in hooks):
        cfg.custom_hooks = hooks + [dict(type=safe_hook_type)]


def build_det_runner(cfg: Config) -> Runner:
    """The runner of an MMDet config, a custom ``runner_type`` included.

    Raises:
        MissingMmcvOpsError: mmcv's compiled ops do not load.
    """
    require_mmcv_ops('An MMDet runner')
    from mmdet.registry import RUNNERS
    from mmdet.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    return RUNNERS.build(cfg) if 'runner_type' in cfg else \
        Runner.from_cfg(cfg)


def run_tool(cfg: Config,
             action: Callable[[Runner], object],
             launcher: str = 'none',
             dist_backend: Optional[str] = None,
             trust_checkpoint: bool = False,
             build_runner: Callable[[Config], Runner] = Runner.from_cfg):
    """Start the processes, build the Runner; return ``action(runner)``.

    Local checkpoints (``load_from``, resume) load through the safe loader
    (``weights_only=True``; ``trust_checkpoint`` trusts ``load_from``).
    The process group is closed afterwards, also after an error, once all
    ranks met at a barrier (otherwise gloo can abort a rank whose peer
    already tore its connections down).
    """
    init_distributed(launcher, dist_backend)
    load_from = cfg.get('load_from')
    register_safe_checkpoint_loader(
        [load_from] if trust_checkpoint and load_from else [])
    try:
        return action(build_runner(cfg))
    finally:
        if torch_dist.is_available() and torch_dist.is_initialized():
            try:
                torch_dist.barrier()
            finally:
                torch_dist.destroy_process_group()


def exit_tool(code: int) -> None:
    """Exit a tool; a distributed rank skips interpreter teardown.

    At teardown a gloo rank can still abort ("terminate called without an
    active exception") while its peer shuts down, failing a finished run.
    Call it once all outputs are written.
    """
    if int(os.environ.get('WORLD_SIZE', '1')) > 1:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)
