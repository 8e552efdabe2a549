# Copyright (c) mmstim contributors. All rights reserved.
"""Extract the backbone of a classifier checkpoint.

By default the file holds ``{'meta', 'state_dict'}`` with the ``backbone.``
prefix removed, for MMDet's ``ResNet`` (``init_cfg=dict(
type='StrictPretrained', checkpoint=..., prefix=None)``). With
``--torchvision`` it is a bare state dict in torchvision's ResNet key
names, ``fc.*`` included, for ``torchvision.models.resnet50()`` etc.; only
plain MMPretrain ``ResNet`` classifiers (v1.5, 7x7 stem) convert.

Examples:
    python tools/model_converters/extract_backbone.py \\
        resnet50_stim_in1k-0123abcd.pth resnet50_stim_backbone.pth
    python tools/model_converters/extract_backbone.py \\
        resnet50_stim_in1k-0123abcd.pth resnet50_stim_tv.pth --torchvision
"""
import argparse
import sys
from typing import List, Optional

from mmstim.utils.model_converters import extract_backbone


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Parse the command line.

    Args:
        argv (list[str], optional): The arguments; None reads ``sys.argv``.

    Returns:
        argparse.Namespace: The parsed arguments.
    """
    parser = argparse.ArgumentParser(
        description='Extract the backbone weights of a classifier')
    parser.add_argument('in_file', help='classifier checkpoint')
    parser.add_argument('out_file', help='output path')
    parser.add_argument(
        '--torchvision',
        action='store_true',
        help='write torchvision ResNet key names, fc.* from head.fc.*')
    parser.add_argument(
        '--allow-pickle',
        action='store_true',
        help='load in_file with torch.load(weights_only=False) (only for '
        'files you trust)')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    """Extract as the command line says; return the exit status."""
    args = parse_args(argv)
    try:
        path = extract_backbone(
            args.in_file,
            args.out_file,
            torchvision=args.torchvision,
            allow_pickle=args.allow_pickle)
    except ValueError as error:
        print(f'error: {error}', file=sys.stderr)
        return 1
    print(f'wrote {path}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
