# Copyright (c) mmstim contributors. All rights reserved.
"""Lesion study: accuracy after deleting residual blocks of checkpoints.

    python tools/analysis/lesion.py
        --runs CONFIG:CHECKPOINT[:LABEL] [CONFIG:CHECKPOINT[:LABEL] ...]
        [--max-k K] [--draws 5] [--seed 0] [--recalibration-images 0]
        [--split val|test] [--data-root DIR] [--num-workers N] [--threads N]
        [--cfg-options KEY=VALUE ...]
        [--out-json lesion.json] [--out-png lesion.png]

For every checkpoint: the accuracy with each single droppable block deleted
(a block with an identity shortcut, not the first of its stage), and with
k droppable blocks deleted at random for k = 1..K (``--draws`` seeded draws
each, or every combination when there are no more). A network whose blocks
do not loaf loses more when one is deleted.
"""
import argparse
import sys
from typing import List

import mmstim  # noqa: F401  (registers the components)
from mmstim.analysis import lesion_study, subnet_test_runner, test_subnets
from mmstim.analysis.cli import add_run_args, load_runs, write_outputs
from mmstim.models.subnets import find_residual_stages
from mmstim.utils import load_weights


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_run_args(parser, 'lesion')
    parser.add_argument(
        '--max-k', type=int, default=None,
        help='delete up to K random blocks (default: all droppable blocks)')
    parser.add_argument(
        '--draws', type=int, default=5, help='random draws per k')
    parser.add_argument(
        '--recalibration-images', type=int, default=0,
        help='re-estimate BN on this many training images for every '
        'lesioned network (0: none)')
    return parser.parse_args(argv)


def study_run(spec, cfg, args: argparse.Namespace) -> dict:
    """Run the lesion study of one checkpoint through SubnetTestLoop."""
    loop_args = dict(split=args.split, num_workers=args.num_workers,
                     recalibration_images=args.recalibration_images,
                     seed=args.seed)
    runner = subnet_test_runner(cfg, **loop_args)

    def evaluate(masks):
        load_weights(runner.model, spec.checkpoint)
        runner.test_loop.subnets = masks
        return test_subnets(runner)[0]

    stages = find_residual_stages(runner.model.backbone)
    result = lesion_study(stages, evaluate, args.max_k, args.draws,
                          args.seed)
    return dict(label=spec.label, config=spec.config,
                checkpoint=spec.checkpoint, model=type(runner.model).__name__,
                **result)


def plot(runs: List[dict]):
    """Single deletions (bars) and random deletions against k (errorbars)."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.5))
    names = runs[0]['droppable']
    width = 0.8 / len(runs)
    for index, run in enumerate(runs):
        color = f'C{index % 10}'
        positions = [i + (index - (len(runs) - 1) / 2) * width
                     for i in range(len(run['single']))]
        left.bar(positions, [e['top1'] for e in run['single']], width,
                 color=color, label=run['label'])
        left.axhline(run['full']['top1'], color=color, linestyle='--',
                     linewidth=1)
        ks = [0] + [r['k'] for r in run['random']]
        means = [run['full']['top1']] + [r['mean_top1']
                                         for r in run['random']]
        stds = [0.0] + [r['std_top1'] for r in run['random']]
        right.errorbar(ks, means, yerr=stds, color=color, marker='o',
                       capsize=3, label=run['label'])
    left.set_xticks(range(len(names)))
    left.set_xticklabels(names, rotation=45, ha='right', fontsize=8)
    left.set_ylabel('top-1 accuracy (%)')
    left.set_title('One block deleted (dashed: intact network)')
    left.legend(fontsize=8)
    right.set_xticks(range(max(len(r['random']) for r in runs) + 1))
    right.set_xlabel('random droppable blocks deleted (k)')
    right.set_ylabel('top-1 accuracy (%), mean ± std over draws')
    right.set_title('k blocks deleted at random')
    right.grid(alpha=0.3)
    right.legend(fontsize=8)
    return fig


def print_table(runs: List[dict]) -> None:
    """Print the single deletions and the means per k as markdown."""
    print('| run | deleted | top-1 (%) | drop (points) |')
    print('|---|---|---|---|')
    for run in runs:
        print(f'| {run["label"]} | nothing | {run["full"]["top1"]:.2f} | |')
        for e in run['single']:
            print(f'| {run["label"]} | {e["names"][0]} | {e["top1"]:.2f} | '
                  f'{e["drop"]:.2f} |')
        for r in run['random']:
            sets = (f'all {len(r["draws"])} sets' if r['exhaustive'] else
                    f'{len(r["draws"])} random sets')
            print(f'| {run["label"]} | {r["k"]} blocks ({sets}) | '
                  f'{r["mean_top1"]:.2f} ± {r["std_top1"]:.2f} | |')


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        runs = load_runs(args)
    except (ValueError, FileNotFoundError) as error:
        print(f'error: {error}', file=sys.stderr)
        return 2
    results = [study_run(spec, cfg, args) for spec, cfg in runs]
    print_table(results)
    settings = dict(max_k=args.max_k, draws=args.draws, seed=args.seed,
                    recalibration_images=args.recalibration_images,
                    split=args.split, data_root=args.data_root)
    write_outputs(args, settings, results, plot(results))
    return 0


if __name__ == '__main__':
    sys.exit(main())
