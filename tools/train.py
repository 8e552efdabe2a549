# Copyright (c) mmstim contributors. All rights reserved.
"""Train a classifier (stimulatively or not) from an mmstim config.

    python tools/train.py CONFIG [--work-dir DIR] [--resume [PATH]] [--amp]
        [--auto-scale-lr] [--cfg-options KEY=VALUE ...]
        [--launcher none|pytorch|slurm|mpi] [--dist-backend nccl|gloo]
"""
import argparse
import os
import os.path as osp
import sys

from mmengine.config import Config, DictAction
from mmengine.runner import Runner

import mmstim  # noqa: F401  (registers the components)
from mmstim.utils.checkpoint import register_safe_checkpoint_loader
from mmstim.utils.launch import (LAUNCHERS, check_amp_available,
                                 check_data_roots, init_distributed,
                                 use_cpu_model_wrapper)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Train a classifier')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='where logs and checkpoints go')
    parser.add_argument(
        '--resume',
        nargs='?',
        type=str,
        const='auto',
        help='resume from PATH; without PATH, from the latest checkpoint '
        'in the work dir')
    parser.add_argument(
        '--amp', action='store_true',
        help='automatic mixed precision (needs a CUDA GPU)')
    parser.add_argument(
        '--auto-scale-lr', action='store_true',
        help='scale the lr linearly with the total batch size')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config entries, e.g. train_cfg.max_epochs=1')
    parser.add_argument(
        '--launcher', choices=LAUNCHERS, default='none',
        help='job launcher')
    parser.add_argument(
        '--dist-backend', choices=('nccl', 'gloo'), default=None,
        help='process-group backend; default nccl with GPUs, gloo '
        'without (multi-process training on CPUs)')
    parser.add_argument(
        '--trust-checkpoint', action='store_true',
        help='load the --resume / load_from file even if it holds pickled '
        'Python objects (only for files you trust)')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def build_config(args: argparse.Namespace) -> Config:
    """Merge the command line into the config, checking it as we go."""
    cfg = Config.fromfile(args.config)
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    cfg.launcher = args.launcher
    cfg.work_dir = args.work_dir or cfg.get('work_dir') or osp.join(
        './work_dirs', osp.splitext(osp.basename(args.config))[0])
    if args.amp:
        check_amp_available()
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
    if args.auto_scale_lr:
        if 'auto_scale_lr' not in cfg:
            raise ValueError(f'--auto-scale-lr: {args.config} has no '
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
    hooks = cfg.get('custom_hooks', [])
    if not any(h.get('type') == 'SafeCheckpointHook' for h in hooks):
        cfg.custom_hooks = list(hooks) + [dict(type='SafeCheckpointHook')]
    if args.launcher != 'none':
        use_cpu_model_wrapper(cfg)
    check_data_roots(cfg)
    return cfg


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        cfg = build_config(args)
    except (FileNotFoundError, ValueError, RuntimeError) as error:
        print(f'error: {error}', file=sys.stderr)
        return 2
    init_distributed(args.launcher, args.dist_backend)
    trusted = [cfg.load_from] if args.trust_checkpoint and cfg.get(
        'load_from') else []
    register_safe_checkpoint_loader(trusted_paths=trusted)
    runner = Runner.from_cfg(cfg)
    runner.train()
    return 0


if __name__ == '__main__':
    sys.exit(main())
