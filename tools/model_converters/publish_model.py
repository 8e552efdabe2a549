# Copyright (c) mmstim contributors. All rights reserved.
"""Publish a training checkpoint for release.

Keeps ``state_dict`` and a minimal ``meta``; drops the optimizer, message
hub, parameter schedulers and any other training-only state; names the
file ``<stem>-<first 8 hex digits of its sha256>.pth``.

Example:
    python tools/model_converters/publish_model.py \\
        work_dirs/resnet50_stim_imagenet/epoch_200.pth \\
        resnet50_stim_in1k.pth
"""
import argparse
from typing import List, Optional

from mmstim.utils.model_converters import publish_checkpoint


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Parse the command line.

    Args:
        argv (list[str], optional): The arguments; None reads ``sys.argv``.

    Returns:
        argparse.Namespace: The parsed arguments.
    """
    parser = argparse.ArgumentParser(
        description='Strip training state from a checkpoint and name it '
        'by its sha256')
    parser.add_argument('in_file', help='training checkpoint')
    parser.add_argument(
        'out_file', help='output path; the hash is appended to its stem')
    parser.add_argument(
        '--allow-pickle',
        action='store_true',
        help='load in_file with torch.load(weights_only=False), needed for '
        'checkpoints that hold pickled Python objects (only for files you '
        'trust)')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> str:
    """Publish as the command line says; return the written path."""
    args = parse_args(argv)
    path = publish_checkpoint(
        args.in_file, args.out_file, allow_pickle=args.allow_pickle)
    print(f'published {path}')
    return path


if __name__ == '__main__':
    main()
