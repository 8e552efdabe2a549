# Copyright (c) mmstim contributors. All rights reserved.
"""Train a classifier (stimulatively or not) from an mmstim config;
distributed: ``bash tools/dist_train.sh CONFIG 8``."""
import argparse
import sys

import mmstim  # noqa: F401  (registers the components)
from mmstim.utils.launch import (add_common_args, apply_train_args,
                                 check_data_roots, exit_tool, load_config,
                                 run_tool)


def main(argv=None) -> int:
    """Train as the command line says; return the exit code."""
    parser = argparse.ArgumentParser(description='Train a classifier')
    parser.add_argument('config', help='train config file path')
    add_common_args(parser, train=True)
    args = parser.parse_args(argv)
    try:
        cfg = load_config(args.config, args.cfg_options, args.launcher,
                          args.work_dir, args.local_rank)
        apply_train_args(cfg, args.amp, args.auto_scale_lr, args.resume)
        check_data_roots(cfg)
    except (FileNotFoundError, ValueError, RuntimeError) as error:
        print(f'error: {error}', file=sys.stderr)
        return 2
    run_tool(cfg, lambda runner: runner.train(), args.launcher,
             args.dist_backend, args.trust_checkpoint)
    return 0


if __name__ == '__main__':
    exit_tool(main())
