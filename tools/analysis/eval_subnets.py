# Copyright (c) mmstim contributors. All rights reserved.
"""Accuracy and cost of every subnet of a sampling rule, for checkpoints.

    python tools/analysis/eval_subnets.py
        --runs CONFIG:CHECKPOINT[:LABEL] [CONFIG:CHECKPOINT[:LABEL] ...]
        [--rule default|paper|'[[1,2],[1,2],[2]]'] [--max-subnets N]
        [--seed 0] [--recalibration-images 2000] [--split val|test]
        [--data-root DIR] [--num-workers N] [--threads N]
        [--cfg-options KEY=VALUE ...]
        [--x depth|params|macs|flops|latency]
        [--latency] [--latency-batch-sizes 1 64] [--repeats 10] [--warmup 2]
        [--out-json subnets.json] [--out-png subnets.png]

Runs :class:`SubnetTestLoop` on each checkpoint: every subnet of the rule
(the config's ``SubnetSamplingHook`` rule, ``'default'`` without one), or
``--max-subnets`` of them drawn at random, without and with BN
re-estimation on training images; then adds parameters and MACs per image,
with ``--latency`` the median latency on this machine, and marks the
Pareto-optimal subnets of each checkpoint on every cost axis. The plot shows
accuracy against kept blocks or a cost, the Pareto front joined.
"""
import argparse
import json
import sys

import torch
from mmengine.device import get_device
from mmengine.runner import Runner

import mmstim  # noqa: F401  (registers the components)
from mmstim.analysis import (evaluate_subnets, mean_subnet_accuracy,
                             subnet_test_config)
from mmstim.analysis.cli import add_run_args, load_runs, write_outputs
from mmstim.analysis.cost import (add_subnet_costs, add_subnet_latency,
                                  mark_pareto_optimal, processor_name)
from mmstim.engine import build_subnet_sampler

#: x axes of the plot: label, value of a result, cost axis of its Pareto
#: flags (None: not a cost, no front).
X_AXES = {
    'depth': ('kept blocks', lambda e: e['kept_blocks'], None),
    'params': ('parameters (millions)', lambda e: e['params'] / 1e6,
               'params'),
    'macs': ('MMACs per image', lambda e: e['macs'] / 1e6, 'macs'),
    'flops': ('MFLOPs per image (2 x MACs)', lambda e: 2 * e['macs'] / 1e6,
              'macs'),
}
#: The accuracies plotted: key, marker, face colour (None: the series'),
#: line style and legend suffix.
SERIES = (('top1', 'o', None, '-', ''),
          ('top1_recalibrated', 's', 'none', '--', ', BN recal.'))


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_run_args(parser, 'eval_subnets')
    parser.add_argument(
        '--rule', type=lambda t: json.loads(t) if t.startswith('[') else t,
        help="'default', 'paper' or a JSON list of allowed depths per "
        "stage; default: the config's SubnetSamplingHook rule")
    parser.add_argument(
        '--max-subnets', type=int,
        help='evaluate at most this many subnets, drawn at random')
    parser.add_argument(
        '--recalibration-images', type=int, default=2000,
        help='training images for the BN re-estimation of each subnet '
        '(0: none)')
    parser.add_argument(
        '--x', choices=(*X_AXES, 'latency'), default='depth',
        help='x axis of the plot; on a cost (not depth) the Pareto front '
        'is drawn. latency: at the first --latency-batch-sizes')
    parser.add_argument(
        '--latency', action='store_true',
        help='time every subnet on this machine (implied by --x latency)')
    parser.add_argument(
        '--latency-batch-sizes', type=int, nargs='+', default=[1, 64])
    parser.add_argument(
        '--repeats', type=int, default=10,
        help='timed forward passes per subnet and batch size (the median '
        'is reported)')
    parser.add_argument(
        '--warmup', type=int, default=2,
        help='untimed forward passes before them')
    args = parser.parse_args(argv)
    args.latency = args.latency or args.x == 'latency'
    return args


def evaluate_run(spec, cfg, args) -> dict:
    """Evaluate the subnets of one checkpoint; add their costs and flags."""
    loop_args = dict(
        split=args.split, num_workers=args.num_workers,
        subnets=args.max_subnets or 'rule', rule=args.rule,
        recalibration_images=args.recalibration_images, seed=args.seed)
    runner = Runner.from_cfg(subnet_test_config(cfg, **loop_args))
    results, _ = evaluate_subnets(cfg, spec.checkpoint, runner, **loop_args)
    model = runner.model
    inputs = model.data_preprocessor(next(iter(runner.test_dataloader)),
                                     False)['inputs']
    shape = [int(n) for n in inputs.shape[1:]]
    add_subnet_costs(results, model, shape)
    if args.latency:
        add_subnet_latency(results, model, latency_batches(shape, args),
                           args.repeats, args.warmup,
                           desc=f'latency {spec.label}')
    accuracy = mark_pareto_optimal(results)
    sampler = build_subnet_sampler(cfg, model, args.rule)
    return dict(
        label=spec.label, config=spec.config, checkpoint=spec.checkpoint,
        model=type(model).__name__, rule=sampler.rule,
        num_subnets_in_space=sampler.num_subnets_in_space(),
        num_evaluated=len(results), input_shape=shape,
        full_params=results[0]['params'], full_macs=results[0]['macs'],
        full_top1=results[0]['top1'],
        mean_subnet_top1=mean_subnet_accuracy(results),
        mean_subnet_top1_recalibrated=mean_subnet_accuracy(
            results, 'top1_recalibrated'),
        pareto_accuracy=accuracy, subnets=results)


def latency_batches(shape, args) -> list:
    """Seeded random inputs of the test data's shape, one per batch size,
    on the model's device."""
    generator = torch.Generator().manual_seed(args.seed)
    return [
        torch.randn((size, *shape), generator=generator).to(get_device())
        for size in args.latency_batch_sizes
    ]


def x_axis(x: str, entry: dict) -> tuple:
    """Label, value and Pareto cost axis of the plot's x, see X_AXES."""
    if x != 'latency':
        return X_AXES[x]
    batch = entry['latency'][0]['batch_size']
    return (f'median latency at batch {batch} (ms)',
            lambda e: 1e3 * e['latency'][0]['median_s'], f'latency_b{batch}')


def plot(runs: list, x: str = 'depth'):
    """Accuracy against kept depth or a cost, one series per checkpoint.

    Filled circles are plain accuracies, open squares those after BN
    re-estimation; a star marks the full network. Against kept depth a
    line joins the mean accuracy at each x; against a cost a line joins the
    Pareto-optimal subnets (ringed) of the accuracy they were chosen by.
    """
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    label, value, axis = x_axis(x, runs[0]['subnets'][0])
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    for index, run in enumerate(runs):
        plot_run(ax, run, value, axis, f'C{index % 10}')
    ax.scatter([], [], marker='*', s=120, color='white', edgecolors='black',
               label='full network')
    if axis is not None:
        ax.scatter([], [], marker='o', s=110, facecolors='none',
                   edgecolors='black', label='Pareto-optimal')
    ax.set_xlabel(label)
    ax.set_ylabel('top-1 accuracy (%)')
    ax.set_title('Subnet accuracy' if axis is None else
                 'Subnet accuracy and cost')
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def plot_run(ax, run: dict, value, axis, color: str) -> None:
    """One checkpoint's points, and its mean line or Pareto front."""
    entries = run['subnets']
    xs = [value(e) for e in entries]
    for key, marker, face, style, suffix in SERIES:
        if key not in entries[0]:
            continue
        ys = [e[key] for e in entries]
        ax.scatter(xs, ys, marker=marker, facecolors=face or color,
                   edgecolors=color, s=28, label=run['label'] + suffix)
        if axis is None:
            ax.plot(*mean_line(xs, ys), color=color, linestyle=style,
                    linewidth=1)
        elif key == run['pareto_accuracy']:
            front = sorted((x, y) for x, y, e in zip(xs, ys, entries)
                           if e['pareto'][axis])
            ax.plot(*zip(*front), color=color, linestyle=style, marker='o',
                    markersize=10, markerfacecolor='none', linewidth=1.2)
    ax.scatter([xs[0]], [entries[0]['top1']], marker='*', s=220,
               color=color, edgecolors='black', zorder=3)


def mean_line(xs: list, ys: list) -> tuple:
    """The distinct xs, sorted, and the mean y at each."""
    groups = {}
    for x, y in zip(xs, ys):
        groups.setdefault(x, []).append(y)
    means = sorted((k, sum(v) / len(v)) for k, v in groups.items())
    return tuple(zip(*means))


def print_table(runs: list) -> None:
    """The markdown table: costs, accuracies and Pareto axes per subnet."""
    sizes = [t['batch_size'] for t in runs[0]['subnets'][0].get('latency', [])]
    print('| run | subnet | kept blocks | params (M) | MMACs | ' +
          ''.join(f'latency b{b} (ms) | ' for b in sizes) +
          'top-1 (%) | top-1, BN recal. (%) | Pareto-optimal on |\n' +
          '|---' * (8 + len(sizes)) + '|')
    for run in runs:
        for e in run['subnets']:
            recal = e.get('top1_recalibrated')
            cells = [
                run['label'], e['name'], e['kept_blocks'],
                f'{e["params"] / 1e6:.3f}', f'{e["macs"] / 1e6:.2f}',
                *(f'{1e3 * t["median_s"]:.2f}' for t in e.get('latency', [])),
                f'{e["top1"]:.2f}', '-' if recal is None else f'{recal:.2f}',
                ' '.join(k for k, v in e['pareto'].items() if v) or '-'
            ]
            print('| ' + ' | '.join(map(str, cells)) + ' |')
    keys = sorted({run['pareto_accuracy'] for run in runs})
    print(f'Pareto-optimal: no other subnet of the run has higher-or-equal '
          f'{" or ".join(keys)} at lower-or-equal cost, one strictly.')


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        runs = load_runs(args)
    except (ValueError, FileNotFoundError) as error:
        print(f'error: {error}', file=sys.stderr)
        return 2
    results = [evaluate_run(spec, cfg, args) for spec, cfg in runs]
    print_table(results)
    settings = dict(
        rule=args.rule, max_subnets=args.max_subnets, seed=args.seed,
        recalibration_images=args.recalibration_images, split=args.split,
        data_root=args.data_root)
    if args.latency:
        settings['latency'] = dict(
            batch_sizes=args.latency_batch_sizes, repeats=args.repeats,
            warmup=args.warmup, threads=torch.get_num_threads(),
            processor=processor_name(), device=get_device(),
            timing="median of time.perf_counter around model(inputs, "
            "mode='tensor'), eval mode, torch.no_grad(), seeded random "
            'inputs of the test data shape')
    write_outputs(args, settings, results, plot(results, args.x))
    return 0


if __name__ == '__main__':
    sys.exit(main())
