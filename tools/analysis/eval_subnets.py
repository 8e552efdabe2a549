# Copyright (c) mmstim contributors. All rights reserved.
"""Accuracy and cost of every subnet of a sampling rule, for checkpoints.

Runs :class:`SubnetTestLoop` on each checkpoint without and with BN
re-estimation; adds parameters, MACs and optionally the latency on this
machine; marks the Pareto-optimal subnets of each checkpoint on every cost
axis.
"""
import argparse
import json
import sys

import torch
from mmengine.device import get_device

import mmstim  # noqa: F401  (registers the components)
from mmstim.analysis.cli import add_run_args, load_runs, write_outputs
from mmstim.analysis.cost import processor_name
from mmstim.analysis.frontier import evaluate_frontier
from mmstim.analysis.plot import X_AXES, plot_subnets
from mmstim.utils.report import markdown_table


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


def print_table(runs: list) -> None:
    """The markdown table: costs, accuracies and Pareto axes per subnet."""
    sizes = [t['batch_size'] for t in runs[0]['subnets'][0].get('latency', [])]
    header = (['run', 'subnet', 'kept blocks', 'params (M)', 'MMACs'] +
              [f'latency b{b} (ms)' for b in sizes] +
              ['top-1 (%)', 'top-1, BN recal. (%)', 'Pareto-optimal on'])
    rows = [[
        run['label'], e['name'], e['kept_blocks'],
        f'{e["params"] / 1e6:.3f}', f'{e["macs"] / 1e6:.2f}',
        *(f'{1e3 * t["median_s"]:.2f}' for t in e.get('latency', [])),
        f'{e["top1"]:.2f}', '-' if e.get('top1_recalibrated') is None else
        f'{e["top1_recalibrated"]:.2f}',
        ' '.join(k for k, v in e['pareto'].items() if v) or '-'
    ] for run in runs for e in run['subnets']]
    print(markdown_table(header, rows))
    keys = sorted({run['pareto_accuracy'] for run in runs})
    print(f'Pareto-optimal: no other subnet of the run has higher-or-equal '
          f'{" or ".join(keys)} at lower-or-equal cost, one strictly.')


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        runs = load_runs(args.runs, args.cfg_options, args.data_root,
                         args.threads)
    except (ValueError, FileNotFoundError) as error:
        print(f'error: {error}', file=sys.stderr)
        return 2
    latency = dict(batch_sizes=args.latency_batch_sizes,
                   repeats=args.repeats, warmup=args.warmup)
    results = [
        evaluate_frontier(
            spec, cfg, latency if args.latency else None, split=args.split,
            num_workers=args.num_workers, rule=args.rule,
            subnets=args.max_subnets or 'rule',
            recalibration_images=args.recalibration_images, seed=args.seed)
        for spec, cfg in runs]
    print_table(results)
    settings = dict(
        rule=args.rule, max_subnets=args.max_subnets, seed=args.seed,
        recalibration_images=args.recalibration_images, split=args.split,
        data_root=args.data_root)
    if args.latency:
        settings['latency'] = dict(
            latency, threads=torch.get_num_threads(),
            processor=processor_name(), device=get_device(),
            timing="median of time.perf_counter around model(inputs, "
            "mode='tensor'), eval mode, torch.no_grad(), seeded random "
            'inputs of the test data shape')
    write_outputs(args.out_json, args.out_png, settings, results,
                  plot_subnets(results, args.x))
    return 0


if __name__ == '__main__':
    sys.exit(main())
