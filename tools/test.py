# Copyright (c) mmstim contributors. All rights reserved.
"""Evaluate a checkpoint with a config's test data and evaluator.

Examples:
    python tools/test.py configs/resnet50_stim_imagenet.py CKPT --out m.json
    bash tools/dist_test.sh configs/resnet50_stim_imagenet.py CKPT 8
"""
import argparse
import json
import os.path as osp
import sys
from typing import List, Optional

from mmengine.dist import is_main_process
from mmengine.runner import Runner

import mmstim  # noqa: F401  (registers the components)
from mmstim.utils.checkpoint import register_safe_checkpoint_loader
from mmstim.utils.launch import (add_common_args, check_data_roots,
                                 close_distributed, exit_tool,
                                 init_distributed, load_config)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Parse the command line (None reads ``sys.argv``)."""
    parser = argparse.ArgumentParser(description='Test a checkpoint')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument(
        '--out', help='write the config, checkpoint and metrics as JSON')
    add_common_args(parser)
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    """Test as the command line says; return the exit code."""
    args = parse_args(argv)
    try:
        if not osp.isfile(args.checkpoint):
            raise FileNotFoundError(
                f'checkpoint {args.checkpoint} does not exist.')
        cfg = load_config(args)
        cfg.load_from = args.checkpoint
        cfg.resume = False
        check_data_roots(cfg, loaders=('test_dataloader', ))
    except FileNotFoundError as error:
        print(f'error: {error}', file=sys.stderr)
        return 2
    init_distributed(args.launcher, args.dist_backend)
    register_safe_checkpoint_loader(
        trusted_paths=[args.checkpoint] if args.trust_checkpoint else [])
    try:
        metrics = Runner.from_cfg(cfg).test()
    finally:
        close_distributed()
    if args.out and is_main_process():
        with open(args.out, 'w') as f:
            json.dump(
                dict(config=args.config, checkpoint=args.checkpoint,
                     metrics={k: float(v) for k, v in metrics.items()}),
                f, indent=2)
    return 0


if __name__ == '__main__':
    exit_tool(main())
