# Copyright (c) mmstim contributors. All rights reserved.
"""Extract the backbone of a classifier checkpoint.

By default the file holds ``{'meta', 'state_dict'}`` with the ``backbone.``
prefix removed, for MMDet's ``ResNet`` (``init_cfg=dict(
type='StrictPretrained', checkpoint=..., prefix=None)``). With
``--torchvision`` it is a bare state dict in torchvision's ResNet key
names, ``fc.*`` included; only plain MMPretrain ``ResNet`` classifiers
(v1.5, 7x7 stem) convert.
"""
import argparse
import os
import os.path as osp
import re
import sys
from collections import OrderedDict
from typing import Dict, List, Optional

import torch

from mmstim import __version__
from mmstim.utils.checkpoint import get_state_dict, load_checkpoint_file

TORCHVISION_ONLY = (
    'Only MMPretrain ResNet (v1.5, style="pytorch", plain 7x7 stem) '
    'classifiers with a GlobalAveragePooling neck and a LinearClsHead have a '
    'torchvision equivalent')
META_KEYS = ('epoch', 'iter', 'mmengine_version', 'dataset_meta')


def to_torchvision(state_dict: Dict[str, torch.Tensor]) -> OrderedDict:
    """Rename an MMPretrain ResNet classifier's weights as torchvision's.

    ``backbone.`` and ``head.`` are removed (MMPretrain's ``ResNet`` names
    its layers as torchvision does) and the result is loaded strictly into
    the torchvision ResNet of the same depth, whose error names any
    mismatch. ``style='caffe'`` cannot be told from the weights.

    Raises:
        ValueError: The model has no torchvision equivalent.
    """
    import torchvision
    if any(key.startswith('backbone.stem.') for key in state_dict):
        raise ValueError(
            f'{TORCHVISION_ONLY}. This backbone has a deep stem (stem.*: '
            f'ResNetV1c or ResNetV1d), which has no torchvision equivalent.')
    if 'head.fc.weight' not in state_dict:
        raise ValueError(f'{TORCHVISION_ONLY}; this checkpoint has no '
                         f'head.fc.weight (LinearClsHead) to become fc.')
    converted = OrderedDict((re.sub(r'^(backbone|head)\.', '', key), value)
                            for key, value in state_dict.items())
    blocks = {tuple(key.split('.')[:2])
              for key in converted if key.startswith('layer')}
    per_block = 3 if 'layer1.0.conv3.weight' in converted else 2
    arch = f'resnet{len(blocks) * per_block + 2}'
    if arch not in ('resnet18', 'resnet34', 'resnet50', 'resnet101',
                    'resnet152'):
        raise ValueError(f'{TORCHVISION_ONLY}; a backbone of {len(blocks)} '
                         f'blocks would be {arch}, which torchvision lacks.')
    with torch.device('meta'):
        model = getattr(torchvision.models, arch)(
            num_classes=len(state_dict['head.fc.weight']))
    try:
        model.load_state_dict(converted, strict=True, assign=True)
    except RuntimeError as error:
        raise ValueError(f'{TORCHVISION_ONLY}; the weights do not fit '
                         f'torchvision {arch}: {error}') from error
    return OrderedDict((key, converted[key]) for key in model.state_dict())


def extract(in_file: str,
            out_file: str,
            torchvision: bool = False,
            trust: bool = False) -> str:
    """Write ``in_file``'s backbone weights (or torchvision's ResNet) to
    ``out_file``; return it. ``trust`` unpickles ``in_file`` fully."""
    checkpoint = load_checkpoint_file(in_file, trust=trust)
    if torchvision:
        output = to_torchvision(get_state_dict(checkpoint))
    else:
        meta = checkpoint.get('meta') or {}
        meta = {key: meta[key] for key in META_KEYS if key in meta}
        output = dict(
            meta=dict(meta, mmstim_version=__version__),
            state_dict=get_state_dict(checkpoint, 'backbone.'))
    os.makedirs(osp.dirname(osp.abspath(out_file)), exist_ok=True)
    torch.save(output, out_file)
    return out_file


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Extract the backbone weights of a classifier')
    parser.add_argument('in_file', help='classifier checkpoint')
    parser.add_argument('out_file', help='output path')
    parser.add_argument(
        '--torchvision', action='store_true',
        help='write torchvision ResNet key names, fc.* from head.fc.*')
    parser.add_argument(
        '--trust-checkpoint', '--allow-pickle', dest='trust',
        action='store_true',
        help='load in_file with full unpickling (only for files you trust)')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    """Extract as the command line says; return the exit status."""
    args = parse_args(argv)
    try:
        path = extract(args.in_file, args.out_file, args.torchvision,
                       args.trust)
    except (OSError, RuntimeError, ValueError) as error:
        print(f'error: {error}', file=sys.stderr)
        return 1
    print(f'wrote {path}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
