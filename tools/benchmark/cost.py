# Copyright (c) mmstim contributors. All rights reserved.
"""Time per iteration and peak memory of ST / ST++ against a plain step.

    python tools/benchmark/cost.py [--depth 50 | --config CONFIG]
        [--batch-size 8] [--image-size 160] [--iters 3] [--warmup 1]
        [--num-subnets 6] [--rule paper] [--device cpu|cuda] [--cold-shapes]
        [--out cost.json]

Each variant of :mod:`mmstim.benchmark.cost` runs in a fresh subprocess, as
peak memory never goes down within one; the theoretical compute ratio is
printed next to the measured ones. On CUDA it uses AMP and channels_last.
Every input side of the timed steps runs once before timing (a long
training pays that one-off setup once per side); ``--cold-shapes`` does not.
"""
import argparse
import json
import os.path as osp
import subprocess
import sys
from dataclasses import fields

import torch

import mmstim  # noqa: F401
from mmstim.benchmark.cost import (VARIANTS, CostSettings, config_model,
                                   run_variant, theoretical_ratios)
from mmstim.utils.report import markdown_table


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add = parser.add_argument
    add('--depth', type=int, default=50)
    add('--config', help='measure the StimulativeClassifier of this config '
        'instead of ResNet-DEPTH')
    add('--batch-size', type=int, default=8)
    add('--image-size', type=int, default=160)
    add('--iters', type=int, default=3)
    add('--warmup', type=int, default=1)
    add('--num-subnets', type=int,
        help="default: the config's sampling settings, else 6")
    add('--rule', help="default: the config's sampling settings, else "
        "'paper'")
    add('--device', default='cpu', choices=('cpu', 'cuda'))
    add('--cold-shapes', action='store_true',
        help='do not run the resize sides once before timing')
    add('--variant', choices=VARIANTS,
        help='run one variant in this process (internal)')
    add('--out', help='write the figures as JSON')
    args = parser.parse_args(argv)
    if args.config:
        config_model(args.config)  # fails early for a plain config
    return args


def main(argv=None) -> int:
    try:
        args = parse_args(argv)
    except (ValueError, FileNotFoundError) as error:
        print(f'error: {error}', file=sys.stderr)
        return 2
    settings = CostSettings(
        **{f.name: getattr(args, f.name) for f in fields(CostSettings)})
    if args.variant:
        print(json.dumps(run_variant(settings, args.variant)))
        return 0
    if args.device == 'cuda' and not torch.cuda.is_available():
        print('error: --device cuda but no CUDA GPU is available',
              file=sys.stderr)
        return 2
    forwarded = list(argv if argv is not None else sys.argv[1:])
    results = {}
    for variant in VARIANTS:
        child = subprocess.run(
            [sys.executable, osp.abspath(__file__), *forwarded,
             '--variant', variant], capture_output=True, text=True)
        if child.returncode != 0:
            print(f'error: variant {variant} failed:\n{child.stderr[-2000:]}',
                  file=sys.stderr)
            return 1
        results[variant] = json.loads(child.stdout.strip().splitlines()[-1])
        print(f'{variant}: {results[variant]}', file=sys.stderr)
    theory = theoretical_ratios(settings)
    plain = results['plain']
    memory = 'peak GPU MB' if args.device == 'cuda' else 'peak RSS MB'
    name = osp.basename(args.config) if args.config else \
        f'ResNet-{args.depth}'
    print(f'\n{name}, batch {args.batch_size}, '
          f'{args.image_size} px, {args.device}, {args.iters} timed iters, '
          f'input sides {"cold" if args.cold_shapes else "warmed"}')
    rows = []
    for variant in VARIANTS:
        r = results[variant]
        time_ratio = r['seconds_per_iter'] / plain['seconds_per_iter']
        r.update(time_ratio=time_ratio, theory_ratio=theory[variant],
                 overhead=time_ratio / theory[variant],
                 memory_ratio=r['peak_mb'] / plain['peak_mb'])
        rows.append([
            variant, f'{r["seconds_per_iter"]:.3f}', f'{time_ratio:.2f}',
            f'{theory[variant]:.2f}', f'{r["overhead"]:.2f}',
            f'{r["peak_mb"]:.0f}', f'{r["memory_ratio"]:.2f}'])
    print(markdown_table(['variant', 's/iter', 'time ratio', 'theory ratio',
                          'time / theory', memory, 'memory ratio'], rows))
    if args.out:
        stpp = results['stpp']
        with open(args.out, 'w') as f:
            json.dump(dict(settings=dict(vars(args), rule=stpp['rule'],
                                         num_subnets=stpp['num_subnets']),
                           results=results), f, indent=2)
    return 0


if __name__ == '__main__':
    sys.exit(main())
