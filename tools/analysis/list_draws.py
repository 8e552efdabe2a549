# Copyright (c) mmstim contributors. All rights reserved.
"""List the subnets a stimulative-training run drew, after the fact.

The draws of iteration i are a pure function of the run's seed and i, so
they are recomputed from the config's ``SubnetSamplingHook`` (seed: the
hook's, else ``randomness.seed``) instead of being logged. With
``--input-side`` (the training crop, e.g. 224), the input side of every
subnet is listed too. Iterations before the hook's ``begin_iter`` /
``begin_epoch`` trained no subnet.
"""
import argparse
import sys

from mmengine.config import Config, DictAction
from mmengine.fileio import dump
from mmpretrain.registry import MODELS

import mmstim  # noqa: F401  (registers the components)
from mmstim.engine import build_subnet_sampler, list_draws


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config')
    parser.add_argument(
        '--iters', type=int, nargs='+', required=True, metavar='ITER',
        help='one iteration, or START STOP (STOP excluded)')
    parser.add_argument('--input-side', type=int,
                        help='side of the training inputs, to list sides')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    parser.add_argument('--out', help='write the rows as JSON')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    cfg.merge_from_dict(args.cfg_options or {})
    if len(args.iters) > 2:
        print('error: --iters takes ITER or START STOP.', file=sys.stderr)
        return 2
    start, stop = args.iters[0], args.iters[-1] + (len(args.iters) == 1)
    model = MODELS.build(cfg.model)
    try:
        sampler = build_subnet_sampler(cfg, model)
    except ValueError as error:
        print(f'error: {error}', file=sys.stderr)
        return 2
    rows = list_draws(sampler, range(start, stop), model, args.input_side)
    for row in rows:
        side = f'  side {row["side"]}' if 'side' in row else ''
        print(f'iter {row["iter"]}  subnet {row["k"]}  depths '
              f'{"-".join(map(str, row["depths"]))}{side}')
    if args.out:
        dump(rows, args.out, indent=2)
    return 0


if __name__ == '__main__':
    sys.exit(main())
