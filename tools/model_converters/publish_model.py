# Copyright (c) mmstim contributors. All rights reserved.
"""Publish a training checkpoint for release.

Keeps ``state_dict`` and a minimal ``meta``, drops all training-only state,
and names the file ``<stem>-<first 8 hex digits of its sha256>.pth``.
"""
import argparse
import hashlib
import io
import os
import os.path as osp
from typing import List, Optional

import torch

from mmstim import __version__
from mmstim.utils.checkpoint import get_state_dict, load_checkpoint_file

META_KEYS = ('epoch', 'iter', 'mmengine_version', 'dataset_meta')


def publish(in_file: str, out_file: str, trust: bool = False) -> str:
    """Write ``in_file``'s weights and minimal meta as ``<stem>-<hash>.pth``.

    ``out_file``'s ``.pth`` suffix is replaced; ``trust`` unpickles
    ``in_file`` fully. Returns the path written.
    """
    checkpoint = load_checkpoint_file(in_file, trust=trust)
    meta = checkpoint.get('meta') or {}
    meta = {key: meta[key] for key in META_KEYS if key in meta}
    published = dict(
        meta=dict(meta, mmstim_version=__version__),
        state_dict=get_state_dict(checkpoint))
    buffer = io.BytesIO()
    torch.save(published, buffer)
    stem = out_file[:-4] if out_file.endswith('.pth') else out_file
    path = f'{stem}-{hashlib.sha256(buffer.getvalue()).hexdigest()[:8]}.pth'
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    with open(path, 'wb') as f:
        f.write(buffer.getvalue())
    return path


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Strip training state from a checkpoint and name it '
        'by its sha256')
    parser.add_argument('in_file', help='training checkpoint')
    parser.add_argument(
        'out_file', help='output path; the hash is appended to its stem')
    parser.add_argument(
        '--trust-checkpoint', '--allow-pickle', dest='trust',
        action='store_true',
        help='load in_file with full unpickling, needed for checkpoints '
        'that hold pickled Python objects (only for files you trust)')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> str:
    """Publish as the command line says; return the written path."""
    args = parse_args(argv)
    path = publish(args.in_file, args.out_file, trust=args.trust)
    print(f'published {path}')
    return path


if __name__ == '__main__':
    main()
