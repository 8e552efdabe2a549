# Copyright (c) mmstim contributors. All rights reserved.
"""Prepare Fashion-MNIST offline for MMPretrain's ``FashionMNIST`` dataset.

Examples::

    # from the Debian package dataset-fashion-mnist (installed when root)
    python tools/data/prepare_fashion_mnist.py
    # from a folder holding the four idx files, gzipped or not
    python tools/data/prepare_fashion_mnist.py --source ~/fashion-mnist
"""
import argparse
import logging
import os
import sys
import warnings
from typing import List, Optional

try:
    from mmstim.datasets import fashion_mnist as fm
except ImportError:  # not installed: use the package of this repository
    sys.path.insert(
        0,
        os.path.dirname(
            os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    from mmstim.datasets import fashion_mnist as fm

REPO_ROOT = os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_OUT = os.path.join(REPO_ROOT, fm.DEFAULT_OUT_DIR)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Parse the command line.

    Args:
        argv (list[str], optional): The arguments. Defaults to None
            (``sys.argv[1:]``).

    Returns:
        argparse.Namespace: The parsed arguments.
    """
    parser = argparse.ArgumentParser(
        description='Prepare Fashion-MNIST offline into the layout read by '
        "MMPretrain's FashionMNIST (use it with download=False).")
    parser.add_argument(
        '--source',
        metavar='DIR',
        help='folder holding train-images-idx3-ubyte, '
        'train-labels-idx1-ubyte, t10k-images-idx3-ubyte and '
        't10k-labels-idx1-ubyte, gzipped (.gz) or decompressed; default: '
        f'the Debian package {fm.DEBIAN_PACKAGE} ({fm.DEBIAN_DIR})')
    parser.add_argument(
        '--out',
        metavar='DIR',
        default=DEFAULT_OUT,
        help='output folder, the data_root of the dataset; default: '
        f'{fm.DEFAULT_OUT_DIR} in the repository')
    parser.add_argument(
        '--force',
        action='store_true',
        help='prepare again even if the output folder holds valid files')
    parser.add_argument(
        '--verify-md5',
        action='store_true',
        help='also hash files already in the output folder (files written '
        'by this run are always compared with the published MD5)')
    return parser.parse_args(argv)


def _report(result: fm.PreparationResult) -> None:
    """Print what :func:`prepare_fashion_mnist` did."""
    counts = ', '.join(f'{split} {count}'
                       for split, count in result.counts.items())
    if result.prepared:
        print(f'Prepared Fashion-MNIST ({counts} images) in '
              f'{result.out_dir} from {result.source}:')
        for name in fm.FILES:
            print(f'  {os.path.join(result.out_dir, name)}')
    else:
        print(f'Fashion-MNIST ({counts} images) is already prepared in '
              f'{result.out_dir}; nothing to do (--force prepares it '
              'again).')
    if result.md5_mismatches:
        print('MD5 differs from the published value for: '
              f'{", ".join(result.md5_mismatches)}')
    elif result.md5_checked:
        print('MD5 of every file matches the published value.')
    print("Use it with dict(type='FashionMNIST', "
          f"data_root='{result.out_dir}', download=False).")


def _progress_handler() -> logging.Handler:
    """A handler printing the progress messages of the preparation."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter('%(message)s'))
    handler.setLevel(logging.INFO)
    return handler


def _prepare(args: argparse.Namespace) -> fm.PreparationResult:
    """Call :func:`prepare_fashion_mnist` with its progress printed."""
    handler = _progress_handler()
    level, propagate = fm.logger.level, fm.logger.propagate
    fm.logger.addHandler(handler)
    fm.logger.setLevel(logging.INFO)
    fm.logger.propagate = False
    try:
        return fm.prepare_fashion_mnist(
            out_dir=args.out,
            source=args.source,
            force=args.force,
            verify_md5=args.verify_md5)
    finally:
        fm.logger.removeHandler(handler)
        fm.logger.setLevel(level)
        fm.logger.propagate = propagate


def main(argv: Optional[List[str]] = None) -> int:
    """Run the preparation.

    Args:
        argv (list[str], optional): The arguments. Defaults to None
            (``sys.argv[1:]``).

    Returns:
        int: The exit status: 0 on success, 1 on a preparation error.
    """
    args = parse_args(argv)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always', fm.MD5MismatchWarning)
        try:
            result = _prepare(args)
        except fm.DataPreparationError as error:
            print(f'error: {error}', file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            print(
                'interrupted: no partial file was left in the output '
                'folder',
                file=sys.stderr)
            return 130
    for warning in caught:
        print(f'warning: {warning.message}', file=sys.stderr)
    _report(result)
    return 0


if __name__ == '__main__':
    sys.exit(main())
