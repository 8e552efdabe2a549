# Copyright (c) mmstim contributors. All rights reserved.
"""Train an MMDet detector, e.g. one initialised from an mmstim backbone;
distributed: ``bash tools/det/dist_train.sh CONFIG 8``."""
import argparse
import sys

from mmdet.utils import setup_cache_size_limit_of_dynamo
from mmengine.config import Config

import mmstim  # noqa: F401  (registers StrictPretrained)
from mmstim.utils.env import MissingMmcvOpsError
from mmstim.utils.launch import (add_common_args, apply_train_args,
                                 build_det_runner, exit_tool, load_config,
                                 run_tool)


def parse_args(argv=None) -> argparse.Namespace:
    """Parse the command line (None reads ``sys.argv``)."""
    parser = argparse.ArgumentParser(description='Train an MMDet detector')
    parser.add_argument('config', help='detector config file')
    add_common_args(parser, train=True)
    return parser.parse_args(argv)


def build_config(args: argparse.Namespace) -> Config:
    """The config with the command line applied."""
    cfg = load_config(args.config, args.cfg_options, args.launcher,
                      args.work_dir, args.local_rank)
    # SafeCheckpointHook is in MMPretrain's scope
    apply_train_args(cfg, args.amp, args.auto_scale_lr, args.resume,
                     'mmpretrain.SafeCheckpointHook')
    return cfg


def main(argv=None) -> None:
    """Train as the command line says."""
    args = parse_args(argv)
    setup_cache_size_limit_of_dynamo()
    run_tool(build_config(args), lambda runner: runner.train(),
             args.launcher, args.dist_backend, args.trust_checkpoint,
             build_det_runner)


if __name__ == '__main__':
    try:
        main()
    except MissingMmcvOpsError as error:
        sys.exit(f'error: {error}')
    exit_tool(0)
