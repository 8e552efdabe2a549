# Copyright (c) mmstim contributors. All rights reserved.
"""Prepare Fashion-MNIST offline for MMPretrain's ``FashionMNIST``.

Decompresses the four idx files of ``--source`` (by default those of the
Debian package ``dataset-fashion-mnist``) into ``--out``; nothing is
downloaded. Each file is checked before the four are renamed into place; an
MD5 that differs from the published one only warns.
"""
import argparse
import math
import os
import os.path as osp
import shutil
import sys
import tempfile
import zlib
from typing import Dict, List, Optional

from mmpretrain.datasets.mnist import get_int, read_image_file, read_label_file
from mmpretrain.datasets.utils import calculate_md5, open_maybe_compressed_file

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEBIAN_DIR = '/usr/share/datasets/fashion-mnist'
FILES = {  # decompressed name (idx3: images, idx1: labels): split, MD5
    'train-images-idx3-ubyte': ('train', 'f4a8712d7a061bf5bd6d2ca38dc4d50a'),
    'train-labels-idx1-ubyte': ('train', '9018921c3c673c538a1fc5bad174d6f9'),
    't10k-images-idx3-ubyte': ('test', '8181f5470baa50b63fa0f6fddb340f0a'),
    't10k-labels-idx1-ubyte': ('test', '15d484375f8d13e6eb1aabb0c3f46965'),
}
GET_IT = 'run `make data` (installs dataset-fashion-mnist) or pass --source'


class PrepareError(Exception):
    """Bad input; the message names the file, what was expected and found."""


def check_idx(path: str, name: str, count: int) -> None:
    """Check that an idx file holds ``count`` 28x28 images or labels in 0..9.

    ``path`` is named as in :data:`FILES`; ``name`` is its name in messages.

    Raises:
        PrepareError: If the file fails a check.
    """
    ndim = 3 if 'idx3' in osp.basename(path) else 1
    magic, size = 2048 + ndim, osp.getsize(path)
    with open(path, 'rb') as f:
        header = f.read(4 * (ndim + 1))
    found = get_int(header[:4]) if len(header) >= 4 else 'no magic number'
    if found != magic:
        raise PrepareError(f'{name}: expected an idx file with magic number '
                           f'{magic}, found {found}')
    if len(header) < 4 * (ndim + 1):
        raise PrepareError(f'{name}: expected a {4 * (ndim + 1)}-byte idx '
                           f'header, found a {size}-byte file (truncated)')
    dims = [get_int(header[i:i + 4]) for i in range(4, len(header), 4)]
    if size != len(header) + math.prod(dims):
        raise PrepareError(f'{name}: expected {len(header) + math.prod(dims)}'
                           f' bytes (header + {"x".join(map(str, dims))}), '
                           f'found {size} bytes (truncated or corrupt)')
    data = (read_image_file if ndim == 3 else read_label_file)(path)
    shape = (count, 28, 28) if ndim == 3 else (count, )
    if tuple(data.shape) != shape:
        raise PrepareError(f'{name}: expected shape {shape}, found '
                           f'{tuple(data.shape)}')
    bad = (data > 9).nonzero().flatten().tolist() if ndim == 1 else []
    if bad:
        raise PrepareError(f'{name}: expected labels in 0..9, found '
                           f'{int(data[bad[0]])} at index {bad[0]}')


def decompress(source: str, name: str, dst: str) -> str:
    """Copy ``source/name.gz`` (or ``source/name``) decompressed to ``dst``;
    return the source file that was read."""
    src = osp.join(source, name + '.gz')
    src = src if osp.isfile(src) else osp.join(source, name)
    if not osp.isfile(src):
        raise PrepareError(f'{source}: expected {name} or {name}.gz, found '
                           f'neither; {GET_IT} DIR')
    try:
        with open_maybe_compressed_file(src) as f, open(dst, 'wb') as out:
            shutil.copyfileobj(f, out)
    except (EOFError, OSError, zlib.error) as error:
        raise PrepareError(f'{src}: expected a readable idx or gzip file, '
                           f'found {type(error).__name__}: {error}') from error
    return src


def prepare(source: str, out: str, counts: Dict[str, int],
            force: bool) -> bool:
    """Write the four checked files into ``out`` unless already there.

    Args:
        source (str): Folder with the idx files, gzipped (.gz) or not.
        counts (dict[str, int]): Items of the ``train`` and ``test`` split.
        force (bool): Rewrite ``out`` even when it holds valid files.

    Returns:
        bool: Whether the files were written.
    """
    if not force and all(osp.isfile(osp.join(out, n)) for n in FILES):
        try:
            for name, (split, _) in FILES.items():
                check_idx(osp.join(out, name), name, counts[split])
            return False
        except PrepareError as error:
            print(f'rewriting {out}: {error}')
    if not osp.isdir(source):
        raise PrepareError(f'{source}: no such folder; {GET_IT} DIR')
    parent = osp.dirname(osp.abspath(out))
    os.makedirs(parent, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix='.tmp-', dir=parent) as tmp:
        for name, (split, md5) in FILES.items():
            src = decompress(source, name, osp.join(tmp, name))
            check_idx(osp.join(tmp, name), src, counts[split])
            found = calculate_md5(osp.join(tmp, name))
            if found != md5:  # a copy of the user's own may differ
                print(f'warning: {src}: expected the published MD5 {md5}, '
                      f'found {found}', file=sys.stderr)
        os.makedirs(out, exist_ok=True)
        for name in FILES:
            os.replace(osp.join(tmp, name), osp.join(out, name))
    return True


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Parse the command line (``argv`` defaults to ``sys.argv[1:]``)."""
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument('--source', default=DEBIAN_DIR, metavar='DIR',
                        help='folder with the four idx files, gzipped or not')
    parser.add_argument('--out', metavar='DIR',
                        default=osp.join(REPO, 'data', 'fashion_mnist'),
                        help='output folder (data_root of the dataset)')
    parser.add_argument('--force', action='store_true',
                        help='rewrite --out even if it holds valid files')
    for split, count in (('train', 60000), ('test', 10000)):
        parser.add_argument(f'--{split}-count', type=int, default=count,
                            metavar='N', help=f'{split} items expected')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    """Run the preparation; return 0 on success, 2 on bad input."""
    args = parse_args(argv)
    counts = {'train': args.train_count, 'test': args.test_count}
    try:
        written = prepare(args.source, args.out, counts, args.force)
    except PrepareError as error:
        print(f'error: {error}', file=sys.stderr)
        return 2
    print(f'{"wrote" if written else "already prepared (--force rewrites)"}'
          f": {args.out}; use dict(type='FashionMNIST', "
          f"data_root='{args.out}', download=False)")
    return 0


if __name__ == '__main__':
    sys.exit(main())
