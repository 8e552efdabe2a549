# Copyright (c) mmstim contributors. All rights reserved.
"""Export a subnet of a trained network as a standalone, smaller model.

The dropped blocks are removed, not skipped: ``--out-dir`` receives a
config (``ImageClassifier`` with MMPretrain's backbone class and fewer
blocks, or mmstim's ``AnyDepth*`` backbones where MMPretrain's class cannot
say it) and a checkpoint with plain ``ImageClassifier`` keys. ``--onnx``
writes the logits (on preprocessed inputs) with a dynamic batch axis.
Nothing is reported as written unless the written config, built and loaded
strictly with the written checkpoint, reproduces the subnet's logits.
"""
import argparse
import os.path as osp
import sys

from mmengine.config import Config

from mmstim.deploy import export_subnet, input_shape


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config', help='config of the trained network')
    parser.add_argument('checkpoint', help='its checkpoint')
    parser.add_argument(
        '--subnet',
        help='kept depth per stage (3,3,4,3: the first blocks of each) or '
        '0/1 mask per stage (111,1011,110101,111); default: the full network')
    parser.add_argument('--out-dir', required=True)
    parser.add_argument(
        '--recalibration-images', type=int, default=2000,
        help='training images to re-estimate BN on for the subnet; 0 keeps '
        "the full network's statistics (default: 2000)")
    parser.add_argument('--seed', type=int, default=0,
                        help='seed of the training loader (default: 0)')
    parser.add_argument('--onnx', action='store_true',
                        help='also write an ONNX model checked with '
                        'onnxruntime')
    parser.add_argument(
        '--input-shape', type=int, nargs=3, metavar=('C', 'H', 'W'),
        help='input shape for the checks and the ONNX model (default: from '
        "the backbone's img_size or the data pipeline, else 224)")
    parser.add_argument('--force', action='store_true',
                        help='overwrite an export in --out-dir')
    parser.add_argument(
        '--trust-checkpoint', action='store_true',
        help='load CHECKPOINT with full unpickling (only files you trust)')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        shape = args.input_shape or input_shape(Config.fromfile(args.config))
        paths = export_subnet(args.config, args.checkpoint, args.subnet,
                              args.out_dir, args.recalibration_images,
                              args.seed, args.force, args.trust_checkpoint,
                              tuple(shape))
        if args.onnx:
            from mmpretrain.apis import get_model

            from mmstim.deploy.onnx_export import export_onnx
            onnx = export_onnx(
                get_model(paths[0], pretrained=paths[1], device='cpu'),
                shape, osp.splitext(paths[1])[0] + '.onnx', args.seed)
            paths.append(onnx['path'])
            print(f'ONNX: {onnx["parameters"]} weights, '
                  f'{onnx["file_bytes"]} bytes, onnxruntime matches PyTorch '
                  f'within {onnx["max_abs_diff"]:.2g}')
    except (OSError, RuntimeError, ValueError, TypeError) as error:
        print(f'error: {error}', file=sys.stderr)
        return 2
    print('wrote ' + ' and '.join(paths))
    return 0


if __name__ == '__main__':
    sys.exit(main())
