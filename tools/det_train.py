# Copyright (c) mmstim contributors. All rights reserved.
"""Train an MMDet detector, e.g. one initialised from an mmstim backbone.

Examples:
    python tools/det_train.py \\
        configs/mmdet/faster-rcnn_r50-stim-in1k-pre_fpn_1x_coco.py \\
        --cfg-options model.backbone.init_cfg.checkpoint=ckpt.pth
    bash tools/dist_det_train.sh CONFIG 8
"""
import argparse
from typing import List, Optional

from mmdet.registry import RUNNERS
from mmdet.utils import register_all_modules, setup_cache_size_limit_of_dynamo
from mmengine.config import Config
from mmengine.runner import Runner

import mmstim  # noqa: F401  (registers StrictPretrained)
from mmstim.utils.checkpoint import register_safe_checkpoint_loader
from mmstim.utils.launch import (add_common_args, add_train_args,
                                 apply_train_args, close_distributed,
                                 exit_tool, init_distributed, load_config)

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
    parser.add_argument('config', help='detector config file')
    add_common_args(parser)
    add_train_args(parser)
    return parser.parse_args(argv)


def build_config(args: argparse.Namespace) -> Config:
    """Load the config and apply the command line to it.

    Also adds ``SafeCheckpointHook`` unless the config has it.

    Args:
        args (argparse.Namespace): From :func:`parse_args`.

    Returns:
        Config: The training config.
    """
    cfg = load_config(args)
    apply_train_args(cfg, args, safe_hook_type=SAFE_CHECKPOINT_HOOK)
    return cfg


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
    exit_tool(0)
