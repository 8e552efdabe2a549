# Copyright (c) mmstim contributors. All rights reserved.
"""Train a classifier (stimulatively or not) from an mmstim config.

Examples:
    python tools/train.py configs/resnet50_stim_imagenet.py [--amp]
    bash tools/dist_train.sh configs/resnet50_stim_imagenet.py 8
"""
import argparse
import sys
from typing import List, Optional

from mmengine.runner import Runner

import mmstim  # noqa: F401  (registers the components)
from mmstim.utils.checkpoint import register_safe_checkpoint_loader
from mmstim.utils.launch import (add_common_args, add_train_args,
                                 apply_train_args, check_data_roots,
                                 close_distributed, exit_tool,
                                 init_distributed, load_config)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Parse the command line (None reads ``sys.argv``)."""
    parser = argparse.ArgumentParser(description='Train a classifier')
    parser.add_argument('config', help='train config file path')
    add_common_args(parser)
    add_train_args(parser)
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    """Train as the command line says; return the exit code."""
    args = parse_args(argv)
    try:
        cfg = load_config(args)
        apply_train_args(cfg, args)
        check_data_roots(cfg)
    except (FileNotFoundError, ValueError, RuntimeError) as error:
        print(f'error: {error}', file=sys.stderr)
        return 2
    init_distributed(args.launcher, args.dist_backend)
    trusted = [cfg.load_from] if args.trust_checkpoint and cfg.get(
        'load_from') else []
    register_safe_checkpoint_loader(trusted_paths=trusted)
    try:
        Runner.from_cfg(cfg).train()
    finally:
        close_distributed()
    return 0


if __name__ == '__main__':
    exit_tool(main())
