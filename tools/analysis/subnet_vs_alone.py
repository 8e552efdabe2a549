# Copyright (c) mmstim contributors. All rights reserved.
"""Is a subnet as good as the same architecture trained on its own?

    python tools/analysis/subnet_vs_alone.py
        --subnets-json benchmarks/results/fashion_mnist.json
        --alone-json ALONE_111.json [ALONE_221.json ...]
        [--out-json OUT.json] [--out-md OUT.md]

``--subnets-json`` is the accuracy benchmark of the full ResNet-14 runs
(``tools/benchmark/accuracy.py``): per method and seed, every subnet's
top-1 with BN re-estimated on training images, which is what the network
exported by ``export_subnet.py`` with the same ``--recalibration-images``
and ``--seed`` computes. Each ``--alone-json`` is the same benchmark run
with ``--stage-blocks`` (the subnet's architecture trained from scratch
with the baseline recipe, the same epochs, images and seeds). The table
gives mean ± std over the seeds common to all runs, and the training
compute of each route in units of one plain ResNet-14 run (MACs per image
of the trained networks; ST and ST++ by their expected cost ratio).
"""
import argparse
import os.path as osp
import sys
from typing import List, Optional

from mmengine.fileio import dump, load

import mmstim  # noqa: F401  (registers the components)
from mmstim.benchmark.accuracy import REPO
from mmstim.benchmark.subnet_vs_alone import compare, compute_units, markdown


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        '--subnets-json',
        default=osp.join(REPO, 'benchmarks', 'results', 'fashion_mnist.json'))
    parser.add_argument('--alone-json', nargs='+', required=True)
    parser.add_argument(
        '--out-json', default=osp.join(REPO, 'benchmarks', 'results',
                                       'subnet_vs_alone_fashion_mnist.json'))
    parser.add_argument('--out-md', help='default: --out-json with .md')
    args = parser.parse_args(argv)
    args.out_md = args.out_md or osp.splitext(args.out_json)[0] + '.md'
    return args


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    try:
        subnets = load(args.subnets_json)
        alone = {}
        for path in args.alone_json:
            results = load(path)
            blocks = results['runs']['baseline']
            first = next(iter(blocks.values()))
            alone['-'.join(map(str, first['settings']['stage_blocks']))] = (
                results)
        config = osp.join(REPO, subnets['methods']['baseline']['config'])
        units = compute_units(
            config, [[int(n) for n in name.split('-')] for name in alone])
        result = compare(subnets, alone, units)
    except (OSError, KeyError, ValueError) as error:
        print(f'error: {error}', file=sys.stderr)
        return 2
    text = markdown(result)
    print(text)
    dump(result, args.out_json, indent=2)
    with open(args.out_md, 'w') as f:
        f.write(text)
    print(f'wrote {args.out_json} and {args.out_md}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
