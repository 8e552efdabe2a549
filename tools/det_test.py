# Copyright (c) mmstim contributors. All rights reserved.
"""Test (and evaluate) an MMDet detector checkpoint.

Examples:
    python tools/det_test.py \\
        configs/mmdet/faster-rcnn_r50-stim-in1k-pre_fpn_1x_coco.py \\
        work_dirs/faster-rcnn_r50-stim-in1k-pre_fpn_1x_coco/epoch_12.pth \\
        --out results.pkl
    bash tools/dist_det_test.sh CONFIG CHECKPOINT 8
"""
import argparse
from typing import Dict, List, Optional

from mmdet.evaluation import DumpDetResults
from mmdet.registry import RUNNERS
from mmdet.utils import register_all_modules, setup_cache_size_limit_of_dynamo
from mmengine.config import Config
from mmengine.runner import Runner

import mmstim  # noqa: F401  (registers StrictPretrained)
from mmstim.utils.checkpoint import register_safe_checkpoint_loader
from mmstim.utils.launch import (add_common_args, close_distributed, exit_tool,
                                 init_distributed, load_config)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Parse the command line.

    Args:
        argv (list[str], optional): The arguments; None reads ``sys.argv``.

    Returns:
        argparse.Namespace: The parsed arguments.
    """
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
    return args


def build_config(args: argparse.Namespace) -> Config:
    """Load the config and apply the command line to it.

    Args:
        args (argparse.Namespace): From :func:`parse_args`.

    Returns:
        Config: The test config, loading ``args.checkpoint``.
    """
    cfg = load_config(args)
    cfg.load_from = args.checkpoint
    return cfg


def build_runner(cfg: Config,
                 out: Optional[str] = None,
                 trust_checkpoint: bool = False) -> Runner:
    """Build the runner, dumping predictions to ``out`` if given.

    MMEngine then loads the checkpoint with ``torch.load(weights_only=True)``
    and rebuilds what ``SafeCheckpointHook`` converted.

    Args:
        cfg (Config): The config.
        out (str, optional): A .pkl file for the raw predictions.
        trust_checkpoint (bool): Load the checkpoint without the
            ``weights_only`` restriction (only for a file you trust).
            Defaults to False.

    Returns:
        Runner: The runner.
    """
    register_safe_checkpoint_loader(
        trusted_paths=[cfg.load_from] if trust_checkpoint else [])
    register_all_modules(init_default_scope=False)
    runner = RUNNERS.build(cfg) if 'runner_type' in cfg \
        else Runner.from_cfg(cfg)
    if out is not None:
        runner.test_evaluator.metrics.append(DumpDetResults(out_file_path=out))
    return runner


def main(argv: Optional[List[str]] = None) -> Dict[str, float]:
    """Test as the command line says.

    Returns:
        dict[str, float]: The test metrics.
    """
    args = parse_args(argv)
    setup_cache_size_limit_of_dynamo()
    init_distributed(args.launcher, args.dist_backend)
    runner = build_runner(
        build_config(args), args.out, trust_checkpoint=args.trust_checkpoint)
    try:
        return runner.test()
    finally:
        close_distributed()


if __name__ == '__main__':
    main()
    exit_tool(0)
