# Copyright (c) mmstim contributors. All rights reserved.
"""Compose a COCO-format detection data set from Fashion-MNIST images.

    python tools/dataset_converters/fashion_mnist_detection.py \\
        [--fashion-mnist data/fashion_mnist] [--out data/fashion_mnist_det]

Writes ``OUT/{train,val,test}/*.png`` (grey canvases) and
``OUT/annotations/{train,val,test}.json``, which pycocotools and MMDet's
``CocoDataset`` read as they are, plus ``annotations/manifest.json`` with
the settings, the counts and an MD5 per split. Train and val canvases take
their items from Fashion-MNIST's training images (val: the last
``--val-items`` of them, which the depth-study recipe holds out of
pretraining), test canvases from its test images only. The same seed writes
the same files. See :mod:`mmstim.datasets.canvas_detection`.
"""
import argparse
import json
import os.path as osp
from typing import List, Optional

from mmpretrain.datasets.mnist import read_image_file, read_label_file

from mmstim.datasets.canvas_detection import CanvasSpec, write_dataset

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add = parser.add_argument
    add('--fashion-mnist', default=osp.join(REPO, 'data', 'fashion_mnist'),
        help='folder of the four idx files (make data writes it)')
    add('--out', default=osp.join(REPO, 'data', 'fashion_mnist_det'))
    add('--train', type=int, default=1200, help='train canvases')
    add('--val', type=int, default=300, help='val canvases')
    add('--test', type=int, default=500, help='test canvases')
    add('--val-items', type=int, default=10000,
        help='last N Fashion-MNIST training images used by val canvases')
    add('--side', type=int, default=CanvasSpec.side)
    add('--items', type=int, nargs=2, default=CanvasSpec.items)
    add('--item-sizes', type=int, nargs=2, default=CanvasSpec.item_sizes)
    add('--clutter', type=int, default=CanvasSpec.clutter)
    add('--seed', type=int, default=0)
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> dict:
    args = parse_args(argv)
    paths = {(name, kind): osp.join(args.fashion_mnist,
                                    f'{name}-{kind}-idx{dim}-ubyte')
             for name in ('train', 't10k')
             for kind, dim in (('images', 3), ('labels', 1))}
    missing = [p for p in paths.values() if not osp.isfile(p)]
    if missing:
        raise SystemExit(f'error: {missing[0]} not found; run `make data` or '
                         'pass --fashion-mnist DIR')
    images = {n: read_image_file(paths[n, 'images']).numpy()
              for n in ('train', 't10k')}
    labels = {n: read_label_file(paths[n, 'labels']).numpy()
              for n in ('train', 't10k')}
    try:
        spec = CanvasSpec(side=args.side, items=tuple(args.items),
                          item_sizes=tuple(args.item_sizes),
                          clutter=args.clutter)
        manifest = write_dataset(
            args.out, images['train'], labels['train'], images['t10k'],
            labels['t10k'], dict(train=args.train, val=args.val,
                                 test=args.test), args.val_items, spec,
            args.seed)
    except ValueError as error:
        raise SystemExit(f'error: {error}')
    for split, summary in manifest['splits'].items():
        print(f'{split}: {summary["canvases"]} canvases, {summary["items"]} '
              f'items from {summary["source"]}, md5 {summary["md5"]}')
    print(f'wrote {args.out} (annotations/manifest.json: '
          f'{json.dumps(manifest["spec"])})')
    return manifest


if __name__ == '__main__':
    main()
