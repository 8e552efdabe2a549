# Copyright (c) mmstim contributors. All rights reserved.
"""Train an MMDet detector, e.g. one initialised from an mmstim backbone.

Examples:
    python tools/det_train.py \\
        configs/mmdet/faster-rcnn_r50-stim-in1k-pre_fpn_1x_coco.py \\
        --cfg-options model.backbone.init_cfg.checkpoint=ckpt.pth
    bash tools/dist_det_train.sh CONFIG 8
"""
import argparse
import os
import os.path as osp
from typing import List, Optional

import torch.distributed as torch_dist
from mmdet.registry import RUNNERS
from mmdet.utils import register_all_modules, setup_cache_size_limit_of_dynamo
from mmengine.config import Config, DictAction
from mmengine.runner import Runner

import mmstim  # noqa: F401  (registers StrictPretrained)
from mmstim.utils.checkpoint import register_safe_checkpoint_loader
from mmstim.utils.launch import (LAUNCHERS, check_amp_available,
                                 init_distributed, use_cpu_model_wrapper)

#: Saves checkpoints that load with ``torch.load(weights_only=True)``; it is
#: registered in MMPretrain's scope, hence the prefix in MMDet's scope.
SAFE_CHECKPOINT_HOOK = 'mmpretrain.SafeCheckpointHook'


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Parse the command line.

    Args:
        argv (list[str], optional): The arguments; None reads ``sys.argv``.

    Returns:
        argparse.Namespace: The parsed arguments.
    """
    parser = argparse.ArgumentParser(description='Train an MMDet detector')
    parser.add_argument('config', help='config file')
    parser.add_argument(
        '--work-dir',
        help='directory for logs and checkpoints (default: the config\'s '
        'work_dir, else work_dirs/<config name>)')
    parser.add_argument(
        '--amp',
        action='store_true',
        help='automatic mixed precision (AmpOptimWrapper, needs CUDA)')
    parser.add_argument(
        '--resume',
        nargs='?',
        const='auto',
        help='resume from this checkpoint, or with no value from the latest '
        'checkpoint in the work directory')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config entries, key=value with dotted keys, e.g. '
        'model.backbone.init_cfg.checkpoint=PATH; lists as key="[a,b]"')
    parser.add_argument(
        '--launcher', choices=LAUNCHERS, default='none', help='job launcher')
    parser.add_argument(
        '--dist-backend',
        choices=('nccl', 'gloo'),
        default=None,
        help='process-group backend; default nccl with GPUs, gloo without')
    parser.add_argument(
        '--trust-checkpoint',
        action='store_true',
        help='load the --resume / load_from file even if it holds pickled '
        'Python objects (only for files you trust)')
    # torch.distributed.launch passes --local-rank; torchrun sets LOCAL_RANK
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def build_config(args: argparse.Namespace) -> Config:
    """Load the config and apply the command line to it.

    Also adds ``SafeCheckpointHook`` unless the config has it.

    Args:
        args (argparse.Namespace): From :func:`parse_args`.

    Returns:
        Config: The training config.

    Raises:
        RuntimeError: ``--amp`` was given but CUDA is not available.
    """
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    cfg.work_dir = resolve_work_dir(cfg, args.config, args.work_dir)
    if args.amp:
        check_amp_available()
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.loss_scale = 'dynamic'
    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        cfg.resume = True
        cfg.load_from = args.resume
    hooks = list(cfg.get('custom_hooks', []))
    if not any(
            str(hook.get('type')).endswith('SafeCheckpointHook')
            for hook in hooks):
        cfg.custom_hooks = hooks + [dict(type=SAFE_CHECKPOINT_HOOK)]
    if args.launcher != 'none':
        use_cpu_model_wrapper(cfg)
    return cfg


def resolve_work_dir(cfg: Config, config_path: str,
                     work_dir: Optional[str]) -> str:
    """The work directory: the command line's, the config's, or a default.

    Args:
        cfg (Config): The config.
        config_path (str): Its path; its name is the default's last part.
        work_dir (str, optional): ``--work-dir``.

    Returns:
        str: The work directory.
    """
    if work_dir is not None:
        return work_dir
    if cfg.get('work_dir') is not None:
        return cfg.work_dir
    name = osp.splitext(osp.basename(config_path))[0]
    return osp.join('./work_dirs', name)


def build_runner(cfg: Config, trust_checkpoint: bool = False) -> Runner:
    """Build the runner, a custom ``runner_type`` included.

    MMEngine then loads local checkpoints (``load_from``, ``resume``) with
    ``torch.load(weights_only=True)`` and rebuilds the logging state that
    ``SafeCheckpointHook`` converted.

    Args:
        cfg (Config): The config.
        trust_checkpoint (bool): Load ``cfg.load_from`` without the
            ``weights_only`` restriction (only for a file you trust).
            Defaults to False.

    Returns:
        Runner: The runner.
    """
    load_from = cfg.get('load_from')
    trusted = [load_from] if trust_checkpoint and load_from else []
    register_safe_checkpoint_loader(trusted_paths=trusted)
    register_all_modules(init_default_scope=False)
    if 'runner_type' in cfg:
        return RUNNERS.build(cfg)
    return Runner.from_cfg(cfg)


def close_distributed() -> None:
    """Destroy the process group, if any, before the interpreter exits."""
    if torch_dist.is_available() and torch_dist.is_initialized():
        torch_dist.destroy_process_group()


def main(argv: Optional[List[str]] = None) -> None:
    """Train as the command line says."""
    args = parse_args(argv)
    setup_cache_size_limit_of_dynamo()
    init_distributed(args.launcher, args.dist_backend)
    runner = build_runner(build_config(args), args.trust_checkpoint)
    try:
        runner.train()
    finally:
        close_distributed()


if __name__ == '__main__':
    main()
