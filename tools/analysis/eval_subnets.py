# Copyright (c) mmstim contributors. All rights reserved.
"""Accuracy of every subnet of a sampling rule, for one or more checkpoints.

    python tools/analysis/eval_subnets.py
        --runs CONFIG:CHECKPOINT[:LABEL] [CONFIG:CHECKPOINT[:LABEL] ...]
        [--rule default|paper|'[[1,2],[1,2],[2]]'] [--max-subnets N]
        [--seed 0] [--recalibration-images 2000] [--split val|test]
        [--data-root DIR] [--num-workers N] [--threads N]
        [--cfg-options KEY=VALUE ...] [--x depth|macs|flops]
        [--out-json subnets.json] [--out-png subnets.png]

Runs :class:`SubnetTestLoop` on each checkpoint: every subnet of the rule
(the config's ``SubnetSamplingHook`` rule, ``'default'`` without one), or
``--max-subnets`` of them drawn at random, without and with BN
re-estimation on training images; then adds MACs per image and plots
accuracy against kept blocks or compute.
"""
import argparse
import json
import sys

from mmengine.runner import Runner

import mmstim  # noqa: F401  (registers the components)
from mmstim.analysis import (evaluate_subnets, mean_subnet_accuracy,
                             subnet_test_config)
from mmstim.analysis.cli import add_run_args, load_runs, write_outputs
from mmstim.analysis.cost import block_macs, subnet_macs
from mmstim.engine import build_subnet_sampler

X_AXES = {
    'depth': ('kept blocks', lambda e: e['kept_blocks']),
    'macs': ('MMACs per image', lambda e: e['macs'] / 1e6),
    'flops': ('MFLOPs per image (2 x MACs)', lambda e: 2 * e['macs'] / 1e6),
}


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
    parser.add_argument('--x', choices=tuple(X_AXES), default='depth')
    return parser.parse_args(argv)


def evaluate_run(spec, cfg, args) -> dict:
    """Evaluate the subnets of one checkpoint and add their MACs."""
    loop_args = dict(
        split=args.split, num_workers=args.num_workers,
        subnets=args.max_subnets or 'rule', rule=args.rule,
        recalibration_images=args.recalibration_images, seed=args.seed)
    runner = Runner.from_cfg(subnet_test_config(cfg, **loop_args))
    results, _ = evaluate_subnets(cfg, spec.checkpoint, runner, **loop_args)
    batch = next(iter(runner.test_dataloader))
    channels, side = runner.model.data_preprocessor(
        batch, False)['inputs'].shape[1:3]
    parts = block_macs(runner.model, int(side), int(channels))
    for entry in results:
        entry['macs'] = subnet_macs(parts, entry['mask'])
        entry['macs_ratio'] = entry['macs'] / results[0]['macs']
    sampler = build_subnet_sampler(cfg, runner.model, args.rule)
    return dict(
        label=spec.label, config=spec.config, checkpoint=spec.checkpoint,
        model=type(runner.model).__name__, rule=sampler.rule,
        num_subnets_in_space=sampler.num_subnets_in_space(),
        num_evaluated=len(results),
        input_shape=[int(channels), int(side), int(side)],
        full_macs=results[0]['macs'], full_top1=results[0]['top1'],
        mean_subnet_top1=mean_subnet_accuracy(results),
        mean_subnet_top1_recalibrated=mean_subnet_accuracy(
            results, 'top1_recalibrated'),
        subnets=results)


def plot(runs: list, x: str = 'depth'):
    """Accuracy against kept depth or compute, one series per checkpoint.

    Filled circles are plain accuracies, open squares those after BN
    re-estimation; a line joins the mean accuracy at each x; a star marks
    the full network.
    """
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    label, value = X_AXES[x]
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    for index, run in enumerate(runs):
        color = f'C{index % 10}'
        entries = run['subnets']
        xs = [value(e) for e in entries]
        for key, marker, face, style, suffix in (
                ('top1', 'o', color, '-', ''),
                ('top1_recalibrated', 's', 'none', '--', ', BN recal.')):
            if key not in entries[0]:
                continue
            ys = [e[key] for e in entries]
            ax.scatter(xs, ys, marker=marker, facecolors=face,
                       edgecolors=color, s=28, label=run['label'] + suffix)
            groups = {}
            for x_value, y in zip(xs, ys):
                groups.setdefault(x_value, []).append(y)
            means = sorted((k, sum(v) / len(v)) for k, v in groups.items())
            ax.plot(*zip(*means), color=color, linestyle=style, linewidth=1)
        ax.scatter([xs[0]], [entries[0]['top1']], marker='*', s=220,
                   color=color, edgecolors='black', zorder=3)
    ax.scatter([], [], marker='*', s=120, color='white', edgecolors='black',
               label='full network')
    ax.set_xlabel(label)
    ax.set_ylabel('top-1 accuracy (%)')
    ax.set_title('Subnet accuracy')
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        runs = load_runs(args)
    except (ValueError, FileNotFoundError) as error:
        print(f'error: {error}', file=sys.stderr)
        return 2
    results = [evaluate_run(spec, cfg, args) for spec, cfg in runs]
    print('| run | subnet | kept blocks | MMACs | top-1 (%) | '
          'top-1, BN recal. (%) |\n|---|---|---|---|---|---|')
    for run in results:
        for e in run['subnets']:
            recal = e.get('top1_recalibrated')
            print(f'| {run["label"]} | {e["name"]} | {e["kept_blocks"]} | '
                  f'{e["macs"] / 1e6:.2f} | {e["top1"]:.2f} | '
                  f'{"-" if recal is None else f"{recal:.2f}"} |')
    settings = dict(
        rule=args.rule, max_subnets=args.max_subnets, seed=args.seed,
        recalibration_images=args.recalibration_images, split=args.split,
        data_root=args.data_root)
    write_outputs(args, settings, results, plot(results, args.x))
    return 0


if __name__ == '__main__':
    sys.exit(main())
