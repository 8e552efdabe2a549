# Copyright (c) mmstim contributors. All rights reserved.
"""Is a subnet as good as the same architecture trained on its own?

    python tools/analysis/subnet_vs_alone.py
        [--subnets-json RESULTS.json [RESULTS.json ...]]
        --alone-json ALONE_111.json [ALONE_221.json ...]
        [--out-json OUT.json] [--out-md OUT.md]

Compares the subnets of the accuracy benchmark's ResNet-14 runs with the
same benchmark run with ``--stage-blocks`` (each subnet's architecture
trained alone), over the seeds common to all, and each route's compute.
"""
import argparse
import os.path as osp
import sys
from typing import List, Optional

from mmengine.fileio import load

import mmstim  # noqa: F401  (registers the components)
from mmstim.benchmark.accuracy import REPO
from mmstim.benchmark.subnet_vs_alone import (combine, compare, compute_units,
                                              markdown)
from mmstim.utils.report import dump_atomic


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        '--subnets-json', nargs='+', default=[
            osp.join(REPO, 'benchmarks', 'results', 'fashion_mnist.json')],
        help='accuracy-benchmark results; a method run with --set overrides '
        'is named with them')
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
        subnets = combine([load(path) for path in args.subnets_json])
        alone = {}
        for path in args.alone_json:
            results = load(path)
            first = next(iter(results['runs']['baseline'].values()))
            alone['-'.join(map(str, first['settings']['stage_blocks']))] = (
                results)
        units = compute_units(
            subnets, [[int(n) for n in name.split('-')] for name in alone])
        result = compare(subnets, alone, units)
    except (OSError, KeyError, ValueError) as error:
        print(f'error: {error}', file=sys.stderr)
        return 2
    text = markdown(result)
    print(text)
    dump_atomic(result, args.out_json)
    dump_atomic(text, args.out_md)
    print(f'wrote {args.out_json} and {args.out_md}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
