# Copyright (c) mmstim contributors. All rights reserved.
"""The depth and schedule study: choose on validation, report on test.

    python tools/benchmark/depth_study.py --stage-blocks 5 5 5 --jobs 2

Runs ``tools/benchmark/accuracy.py`` for one CIFAR-style ResNet as
``docs/en/benchmarks.md`` ("Depth and schedule study") designs it: every
grid value on the held-out training images, then every method at the value
of highest mean validation top-1, and the equal-compute baseline, on the
test images. ``--jobs`` runs go at once; finished runs are skipped and
interrupted ones resume, so the same command continues a study. ``--plan``
lists the runs whose settings are known; ``--report`` writes the report of
the finished runs only.
"""
import argparse
import os
import os.path as osp
import sys
from dataclasses import fields
from typing import List, Optional

from mmstim.benchmark.depth_study import (CONFIG_BLOCKS, METHOD_NAMES, REPO,
                                          DepthStudy, command, finished_run,
                                          ready_runs, run_study, validation,
                                          write_report)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Parse the options; see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add = parser.add_argument
    add('--stage-blocks', type=int, nargs=3, default=CONFIG_BLOCKS,
        metavar='N', help='basic blocks per stage; default 2 2 2 (ResNet-14)')
    add('--methods', nargs='+', default=['baseline', 'droppath', 'stpp'],
        choices=list(METHOD_NAMES), help='the equal-compute baseline comes '
        'with stpp and baseline')
    add('--drop-path-rates', nargs='+', default=['0.05', '0.1', '0.2'])
    add('--amplitudes', nargs='+', default=['1.0', '2.0', '4.0'])
    add('--selection-seeds', type=int, nargs='+', default=[0])
    add('--seeds', type=int, nargs='+', default=[0, 1, 2])
    add('--train-size', type=int, default=10000)
    add('--epochs', type=int, default=30)
    add('--holdout', type=int, default=10000)
    add('--subnets', type=int, metavar='N',
        help='test: the full network and N - 1 subnets drawn per seed; '
        'default: 16 for networks of more than 2 blocks per stage, else all')
    add('--recalibration-images', type=int, default=2000)
    add('--jobs', type=int, default=1, help='runs at once')
    add('--threads', type=int,
        help='torch threads per run; default: CPU cores / --jobs')
    add('--num-workers', type=int, default=1, help='loader workers per run')
    add('--data-root', default=osp.join(REPO, 'data', 'fashion_mnist'))
    add('--work-dir', default=osp.join(REPO, 'work_dirs', 'depth'))
    add('--out-json',
        help='default: benchmarks/results/depth_study_<net>.json')
    add('--plan', action='store_true',
        help='print the runs whose settings are known, start nothing')
    add('--report', action='store_true',
        help='write the report of the finished runs, start nothing')
    args = parser.parse_args(argv)
    for name in ('drop_path_rates', 'amplitudes'):
        for value in getattr(args, name):
            try:
                float(value)
            except ValueError:
                parser.error(f'--{name.replace("_", "-")}: {value!r} is not '
                             'a number')
    if min(args.stage_blocks) < 1:
        parser.error(f'--stage-blocks must be at least 1 each, got '
                     f'{args.stage_blocks}')
    missing = sorted(set(args.selection_seeds) - set(args.seeds))
    if missing:
        parser.error(f'--selection-seeds {missing} are not in --seeds '
                     f'{args.seeds}')
    if args.jobs < 1:
        parser.error(f'--jobs must be at least 1, got {args.jobs}')
    args.threads = args.threads or max(1, (os.cpu_count() or 1) // args.jobs)
    return args


def depth_study(args: argparse.Namespace) -> DepthStudy:
    """The study of the parsed options."""
    return DepthStudy(**{f.name: getattr(args, f.name)
                         for f in fields(DepthStudy)})


def main(argv: Optional[List[str]] = None) -> int:
    """Run what is missing of the study; write its report."""
    args = parse_args(argv)
    study = depth_study(args)
    if args.plan:
        print('\n'.join(' '.join(command(study, run)) for run in
                        ready_runs(study) if finished_run(study, run) is None))
        pending = validation(study, partial=True)['pending']
        if pending:
            print(f'# then the test runs of {", ".join(pending)}, at the '
                  'values chosen on validation')
        return 0
    if not args.report:
        try:
            run_study(study)
        except RuntimeError as error:
            print(write_report(study))
            print(f'error: {error}', file=sys.stderr)
            return 1
    print(write_report(study))
    return 0


if __name__ == '__main__':
    sys.exit(main())
