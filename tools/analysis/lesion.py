# Copyright (c) mmstim contributors. All rights reserved.
"""Lesion study: accuracy after deleting residual blocks of checkpoints.

For every checkpoint: the accuracy with each single droppable block deleted
(a block with an identity shortcut, not the first of its stage), and with
k droppable blocks deleted at random for k = 1..K. A network whose blocks
do not loaf loses more when one is deleted.
"""
import argparse
import sys
from typing import List

import mmstim  # noqa: F401  (registers the components)
from mmstim.analysis import lesion_study, subnet_test_runner, test_subnets
from mmstim.analysis.cli import add_run_args, load_runs, write_outputs
from mmstim.analysis.plot import plot_lesions
from mmstim.models.subnets import find_residual_stages
from mmstim.utils import load_weights
from mmstim.utils.report import markdown_table


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_run_args(parser, 'lesion')
    parser.add_argument(
        '--max-k', type=int, default=None,
        help='delete up to K random blocks (default: all droppable blocks)')
    parser.add_argument(
        '--draws', type=int, default=5,
        help='random draws per k (every combination when there are no more)')
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


def print_table(runs: List[dict]) -> None:
    """Print the single deletions and the means per k as markdown."""
    rows = []
    for run in runs:
        rows.append([run['label'], 'nothing', f'{run["full"]["top1"]:.2f}',
                     ''])
        rows += [[run['label'], e['names'][0], f'{e["top1"]:.2f}',
                  f'{e["drop"]:.2f}'] for e in run['single']]
        rows += [[run['label'], f'{r["k"]} blocks (' + (
            f'all {len(r["draws"])} sets' if r['exhaustive'] else
            f'{len(r["draws"])} random sets') + ')',
            f'{r["mean_top1"]:.2f} ± {r["std_top1"]:.2f}', '']
            for r in run['random']]
    print(markdown_table(['run', 'deleted', 'top-1 (%)', 'drop (points)'],
                         rows))


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        runs = load_runs(args.runs, args.cfg_options, args.data_root,
                         args.threads)
    except (ValueError, FileNotFoundError) as error:
        print(f'error: {error}', file=sys.stderr)
        return 2
    results = [study_run(spec, cfg, args) for spec, cfg in runs]
    print_table(results)
    settings = dict(max_k=args.max_k, draws=args.draws, seed=args.seed,
                    recalibration_images=args.recalibration_images,
                    split=args.split, data_root=args.data_root)
    write_outputs(args.out_json, args.out_png, settings, results,
                  plot_lesions(results))
    return 0


if __name__ == '__main__':
    sys.exit(main())
