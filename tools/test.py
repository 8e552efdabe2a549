# Copyright (c) mmstim contributors. All rights reserved.
"""Evaluate a checkpoint with a config's test data and evaluator.

``--cfg-options test_cfg.type=SubnetTestLoop`` prints the loafing table:
the full network and every subnet of the rule.
"""
import argparse
import os.path as osp
import sys

from mmengine.dist import is_main_process
from mmengine.fileio import dump

import mmstim  # noqa: F401  (registers the components)
from mmstim.utils.launch import (add_common_args, check_data_roots, exit_tool,
                                 load_config, run_tool)


def main(argv=None) -> int:
    """Test as the command line says; return the exit code."""
    parser = argparse.ArgumentParser(description='Test a checkpoint')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument(
        '--out', help='write the config, checkpoint and metrics as JSON')
    add_common_args(parser)
    args = parser.parse_args(argv)
    try:
        if not osp.isfile(args.checkpoint):
            raise FileNotFoundError(
                f'checkpoint {args.checkpoint} does not exist.')
        cfg = load_config(args.config, args.cfg_options, args.launcher,
                          args.work_dir, args.local_rank)
        cfg.load_from, cfg.resume = args.checkpoint, False
        check_data_roots(cfg, loaders=('test_dataloader', ))
    except FileNotFoundError as error:
        print(f'error: {error}', file=sys.stderr)
        return 2
    metrics = run_tool(cfg, lambda runner: runner.test(), args.launcher,
                       args.dist_backend, args.trust_checkpoint)
    if args.out and is_main_process():
        dump(dict(config=args.config, checkpoint=args.checkpoint,
                  metrics={k: float(v) for k, v in metrics.items()}),
             args.out, indent=2)
    return 0


if __name__ == '__main__':
    exit_tool(main())
