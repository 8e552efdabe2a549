# Copyright (c) mmstim contributors. All rights reserved.
"""Evaluate a checkpoint with a config's test data loader and evaluator.

    python tools/test.py CONFIG CHECKPOINT [--out results.json]
        [--work-dir DIR] [--cfg-options KEY=VALUE ...]
        [--launcher none|pytorch|slurm|mpi] [--dist-backend nccl|gloo]
"""
import argparse
import json
import os
import os.path as osp
import sys

from mmengine.config import Config, DictAction
from mmengine.dist import is_main_process
from mmengine.runner import Runner

import mmstim  # noqa: F401  (registers the components)
from mmstim.utils.checkpoint import register_safe_checkpoint_loader
from mmstim.utils.launch import (LAUNCHERS, check_data_roots,
                                 init_distributed, use_cpu_model_wrapper)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Test a checkpoint')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument(
        '--out', help='write the metrics (JSON) to this file')
    parser.add_argument('--work-dir', help='where the test logs go')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config entries')
    parser.add_argument(
        '--launcher', choices=LAUNCHERS, default='none',
        help='job launcher')
    parser.add_argument(
        '--dist-backend', choices=('nccl', 'gloo'), default=None,
        help='process-group backend; default nccl with GPUs, gloo without')
    parser.add_argument(
        '--trust-checkpoint', action='store_true',
        help='load the checkpoint even if it holds pickled Python objects')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    if not osp.isfile(args.checkpoint):
        print(f'error: checkpoint {args.checkpoint} does not exist.',
              file=sys.stderr)
        return 2
    cfg = Config.fromfile(args.config)
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    cfg.launcher = args.launcher
    cfg.work_dir = args.work_dir or cfg.get('work_dir') or osp.join(
        './work_dirs', osp.splitext(osp.basename(args.config))[0])
    cfg.load_from = args.checkpoint
    cfg.resume = False
    if args.launcher != 'none':
        use_cpu_model_wrapper(cfg)
    try:
        check_data_roots(cfg, loaders=('test_dataloader', ))
    except FileNotFoundError as error:
        print(f'error: {error}', file=sys.stderr)
        return 2
    init_distributed(args.launcher, args.dist_backend)
    register_safe_checkpoint_loader(
        trusted_paths=[args.checkpoint] if args.trust_checkpoint else [])
    runner = Runner.from_cfg(cfg)
    metrics = runner.test()
    if args.out and is_main_process():
        with open(args.out, 'w') as f:
            json.dump(
                dict(config=args.config, checkpoint=args.checkpoint,
                     metrics={k: float(v) for k, v in metrics.items()}),
                f, indent=2)
    return 0


if __name__ == '__main__':
    sys.exit(main())
