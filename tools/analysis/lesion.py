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
import os.path as osp
import sys
from typing import List

import mmstim  # noqa: F401  (registers the components)
from mmstim.analysis import (data_root_options, lesion_study, load_run,
                             parse_run_spec)
from mmstim.analysis.cli import (add_data_and_output_args, apply_threads,
                                 save_figure, write_results)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        '--runs', nargs='+', required=True, metavar='CONFIG:CKPT[:LABEL]',
        help='checkpoints to study, each with its config')
    parser.add_argument(
        '--max-k', type=int, default=None,
        help='delete up to K random blocks (default: all droppable blocks)')
    parser.add_argument(
        '--draws', type=int, default=5, help='random draws per k')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument(
        '--recalibration-images', type=int, default=0,
        help='recalibrate BN on this many training images for every '
        'lesioned network (0: none)')
    add_data_and_output_args(parser, 'lesion')
    return parser.parse_args(argv)


def study_run(text: str, args: argparse.Namespace) -> dict:
    """Run the lesion study of one ``CONFIG:CHECKPOINT[:LABEL]``."""
    spec = parse_run_spec(text)
    options = dict(args.cfg_options or {})
    if args.data_root:
        options.update(data_root_options(args.data_root))
    run = load_run(spec, options, args.split, args.num_workers,
                   args.recalibration_images > 0, args.seed)
    result = lesion_study(
        run.model, run.val_loader, args.max_k, args.draws, args.seed,
        run.train_loader, args.recalibration_images, progress=True)
    return dict(label=spec.label, config=spec.config,
                checkpoint=spec.checkpoint, model=type(run.model).__name__,
                **result)


def plot(runs: List[dict], path: str) -> None:
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
    save_figure(fig, path)


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
    apply_threads(args)
    for text in args.runs:
        try:
            spec = parse_run_spec(text)
        except ValueError as error:
            print(f'error: {error}', file=sys.stderr)
            return 2
        if not osp.isfile(spec.checkpoint):
            print(f'error: checkpoint {spec.checkpoint} does not exist.',
                  file=sys.stderr)
            return 2
    runs = [study_run(text, args) for text in args.runs]
    print_table(runs)
    settings = dict(max_k=args.max_k, draws=args.draws, seed=args.seed,
                    recalibration_images=args.recalibration_images,
                    split=args.split, data_root=args.data_root)
    write_results(args.out_json, settings, runs)
    plot(runs, args.out_png)
    print(f'wrote {args.out_json} and {args.out_png}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
