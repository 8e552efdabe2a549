# Copyright (c) mmstim contributors. All rights reserved.
"""Time per iteration and peak memory of ST / ST++ against a plain step.

    python tools/benchmark/cost.py [--depth 50 | --config CONFIG]
        [--batch-size 8] [--image-size 160] [--iters 3] [--warmup 1]
        [--num-subnets 6] [--rule paper] [--device cpu|cuda] [--cold-shapes]
        [--out cost.json]

Each variant runs in a fresh subprocess (peak memory never goes down within
one process): ``plain`` (MMPretrain's ImageClassifier step), ``st`` (vanilla
ST: plain KL, one subnet, default rule, full-size inputs), ``stpp`` (ST++:
KL-, ``--num-subnets`` subnets of ``--rule``, inputs resized to 0.43-1.0)
and ``stpp_sum`` (ST++ with every loss summed before a single backward, the
memory-hungry alternative). ``--config`` measures the
``StimulativeClassifier`` of an mmstim config instead of ResNet-``--depth``:
``stpp`` is the config's model (its backbone, head, subnet resize and
losses; rule and number of subnets from its ``SubnetSamplingHook``),
``plain`` the same model as an ImageClassifier, ``st`` the same with plain
KL and full-size inputs. Next to the measured ratios it prints the
theoretical compute ratio from the model's MACs, the rule's expected kept
depth and the resize distribution's expected area. On CUDA it uses AMP and
channels_last and reports the peak allocated GPU memory; on the CPU the
peak resident set size.

Every input side the timed ST++ steps will use is run forward and backward
once before timing: the first step at a new shape pays a one-off setup
(cuDNN execution plans, oneDNN primitives) that a long training run pays
only once per side, and timing it would measure start-up instead of the
steady state. ``--cold-shapes`` leaves that out and times the cold steps.
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
    parser.add_argument('--depth', type=int, default=50)
    parser.add_argument(
        '--config',
        help='measure the StimulativeClassifier of this config instead of '
        'ResNet-DEPTH')
    parser.add_argument('--batch-size', type=int, default=8)
    parser.add_argument('--image-size', type=int, default=160)
    parser.add_argument('--iters', type=int, default=3)
    parser.add_argument('--warmup', type=int, default=1)
    parser.add_argument(
        '--num-subnets',
        type=int,
        help="default: the config's sampling settings, else 6")
    parser.add_argument(
        '--rule',
        help="default: the config's sampling settings, else "
        "'paper'")
    parser.add_argument('--device', default='cpu', choices=('cpu', 'cuda'))
    parser.add_argument(
        '--cold-shapes',
        action='store_true',
        help='do not run the resize sides once before timing')
    parser.add_argument(
        '--variant',
        choices=VARIANTS,
        help='run one variant in this process (internal)')
    parser.add_argument('--out', help='write the figures as JSON')
    args = parser.parse_args(argv)
    if args.config:
        config_model(args.config)  # fails early for a plain config
    return args


def settings_of(args: argparse.Namespace) -> CostSettings:
    """The measured settings of the parsed options."""
    return CostSettings(
        **{f.name: getattr(args, f.name)
           for f in fields(CostSettings)})


def main(argv=None) -> int:
    try:
        args = parse_args(argv)
    except (ValueError, FileNotFoundError) as error:
        print(f'error: {error}', file=sys.stderr)
        return 2
    settings = settings_of(args)
    if args.variant:
        print(json.dumps(run_variant(settings, args.variant)))
        return 0
    if args.device == 'cuda' and not torch.cuda.is_available():
        print(
            'error: --device cuda but no CUDA GPU is available',
            file=sys.stderr)
        return 2
    forwarded = [a for a in (argv if argv is not None else sys.argv[1:])]
    results = {}
    for variant in VARIANTS:
        child = subprocess.run([
            sys.executable,
            osp.abspath(__file__), *forwarded, '--variant', variant
        ],
                               capture_output=True,
                               text=True)
        if child.returncode != 0:
            print(
                f'error: variant {variant} failed:\n{child.stderr[-2000:]}',
                file=sys.stderr)
            return 1
        out = child.stdout
        results[variant] = json.loads(out.strip().splitlines()[-1])
        print(f'{variant}: {results[variant]}', file=sys.stderr)
    theory = theoretical_ratios(settings)
    plain = results['plain']
    memory = 'peak GPU MB' if args.device == 'cuda' else 'peak RSS MB'
    name = (
        osp.basename(args.config) if args.config else f'ResNet-{args.depth}')
    print(f'\n{name}, batch {args.batch_size}, '
          f'{args.image_size} px, {args.device}, {args.iters} timed iters, '
          f'input sides {"cold" if args.cold_shapes else "warmed"}')
    rows = []
    for variant in VARIANTS:
        r = results[variant]
        time_ratio = r['seconds_per_iter'] / plain['seconds_per_iter']
        r.update(
            time_ratio=time_ratio,
            theory_ratio=theory[variant],
            overhead=time_ratio / theory[variant],
            memory_ratio=r['peak_mb'] / plain['peak_mb'])
        rows.append([
            variant, f'{r["seconds_per_iter"]:.3f}', f'{time_ratio:.2f}',
            f'{theory[variant]:.2f}', f'{r["overhead"]:.2f}',
            f'{r["peak_mb"]:.0f}', f'{r["memory_ratio"]:.2f}'
        ])
    print(
        markdown_table([
            'variant', 's/iter', 'time ratio', 'theory ratio', 'time / theory',
            memory, 'memory ratio'
        ], rows))
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(
                dict(
                    settings=dict(
                        vars(args),
                        rule=results['stpp']['rule'],
                        num_subnets=results['stpp']['num_subnets']),
                    results=results),
                f,
                indent=2)
    return 0


if __name__ == '__main__':
    sys.exit(main())
