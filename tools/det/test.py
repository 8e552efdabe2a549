# Copyright (c) mmstim contributors. All rights reserved.
"""Test (and evaluate) an MMDet detector checkpoint; distributed:
``bash tools/det/dist_test.sh CONFIG CHECKPOINT 8``."""
import argparse
import sys
from typing import Dict

from mmdet.utils import setup_cache_size_limit_of_dynamo
from mmengine.runner import Runner

import mmstim  # noqa: F401  (registers StrictPretrained)
from mmstim.utils.env import MissingMmcvOpsError
from mmstim.utils.launch import (add_common_args, build_det_runner, exit_tool,
                                 load_config, run_tool)


def main(argv=None) -> Dict[str, float]:
    """Test as the command line says; return the test metrics."""
    parser = argparse.ArgumentParser(
        description='Test (and evaluate) an MMDet detector')
    parser.add_argument('config', help='config file')
    parser.add_argument('checkpoint', help='detector checkpoint')
    parser.add_argument(
        '--out', help='also dump the predictions to this .pkl file')
    add_common_args(parser)
    args = parser.parse_args(argv)
    if args.out is not None and not args.out.endswith(('.pkl', '.pickle')):
        parser.error(f'--out must name a .pkl file, got {args.out!r}')
    setup_cache_size_limit_of_dynamo()
    cfg = load_config(args.config, args.cfg_options, args.launcher,
                      args.work_dir, args.local_rank)
    cfg.load_from = args.checkpoint

    def test(runner: Runner) -> Dict[str, float]:
        if args.out is not None:
            # imported here: it needs mmcv's ops, which load_config checks
            from mmdet.evaluation import DumpDetResults
            runner.test_evaluator.metrics.append(
                DumpDetResults(out_file_path=args.out))
        return runner.test()

    return run_tool(cfg, test, args.launcher, args.dist_backend,
                    args.trust_checkpoint, build_det_runner)


if __name__ == '__main__':
    try:
        main()
    except MissingMmcvOpsError as error:
        sys.exit(f'error: {error}')
    exit_tool(0)
