# Copyright (c) mmstim contributors. All rights reserved.
"""Network loafing in a few minutes: a baseline and ST++ side by side (CPU).

    python tools/demo.py [--full] [--epochs N] [--train-size N]
        [--test-size N] [--recalibration-images N] [--work-dir DIR]

Trains the Fashion-MNIST ResNet-14 plainly and with ST++ at the same time
(one process each), tests the full network and every ``'default'``-rule
subnet of both without and with BN re-estimation, prints them side by side,
writes ``loafing.png`` and ``loafing.json`` to the work dir and prints the
commands to try next. ``--full`` trains 3 epochs on 30,000 images and tests
on all 10,000 test images.
"""
import argparse
import multiprocessing
import os
import os.path as osp
import queue
import sys
import time
from typing import Dict, List, Optional

from mmengine.fileio import dump

import mmstim  # noqa: F401  (registers the components)
from mmstim.analysis import plot_subnets
from mmstim.benchmark.accuracy import REPO, TRAIN_IMAGES, AccuracyBenchmark
from mmstim.benchmark.demo import (demo_config, loafing_summary, side_by_side,
                                   train_and_test)
from mmstim.utils.launch import check_data_roots

#: The compared runs: label and method (also the work sub-directory).
RUNS = (('baseline', 'baseline'), ('ST++', 'stpp'))
QUICK = dict(epochs=1, train_size=25600, test_size=2000,
             recalibration_images=1024)
FULL = dict(epochs=3, train_size=30000, test_size=0,
            recalibration_images=2000)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Parse the options; those not given take the quick or full budget."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add = parser.add_argument
    add('--full', action='store_true',
        help='the long demo: 3 epochs on 30000 images, all test images')
    add('--epochs', type=int, help='default 1 (full: 3)')
    add('--train-size', type=int, help='first N training images (0: all '
        '60000); default 25600 (full: 30000)')
    add('--test-size', type=int,
        help='first N test images (0: all 10000); default 2000 (full: all)')
    add('--recalibration-images', type=int,
        help='training images for the BN re-estimation of each subnet; '
        'default 1024 (full: 2000)')
    add('--data-root', default=osp.join(REPO, 'data', 'fashion_mnist'),
        help='the prepared Fashion-MNIST folder')
    add('--work-dir', default=osp.join(REPO, 'work_dirs', 'demo'))
    args = parser.parse_args(argv)
    for key, value in (FULL if args.full else QUICK).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    for key in ('epochs', 'train_size', 'test_size', 'recalibration_images'):
        minimum = 1 if key == 'epochs' else 0
        if getattr(args, key) < minimum:
            parser.error(f'--{key.replace("_", "-")} must be >= {minimum}, '
                         f'got {getattr(args, key)}')
    return args


def budget(args: argparse.Namespace) -> AccuracyBenchmark:
    """The demo's budget as the accuracy benchmark's."""
    return AccuracyBenchmark(
        epochs=args.epochs, train_size=args.train_size,
        test_size=args.test_size, data_root=args.data_root, num_workers=0)


def run_in_parallel(args: argparse.Namespace) -> Dict[str, dict]:
    """Train and test the runs of :data:`RUNS` at once, with progress bars.

    Returns:
        dict: Per label, in the order of :data:`RUNS`, ``subnets`` (the
        test results) and ``train_seconds``.

    Raises:
        RuntimeError: A run failed; the message names its log.
    """
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress,
                               TextColumn, TimeElapsedColumn)
    context = multiprocessing.get_context('spawn')
    messages = context.Queue()
    threads = max(1, (os.cpu_count() or 1) // len(RUNS))
    processes = {label: context.Process(
        target=train_and_test, daemon=True,
        args=(label, method, osp.join(args.work_dir, method), budget(args),
              args.recalibration_images, threads, messages))
        for label, method in RUNS}
    for process in processes.values():
        process.start()
    done: Dict[str, dict] = {}
    columns = (TextColumn('{task.description:<18}'), BarColumn(),
               MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns) as bars:
        tasks = {(label, phase): bars.add_task(
            f'{label} {"training" if phase == "train" else "testing"}',
            total=None) for label, _ in RUNS for phase in ('train', 'test')}
        while len(done) < len(RUNS):
            try:
                label, phase, value, total = messages.get(timeout=1)
            except queue.Empty:
                for label, process in processes.items():
                    if label not in done and not process.is_alive():
                        raise RuntimeError(
                            f'the {label} run stopped (exit code '
                            f'{process.exitcode}); see {run_log(args, label)}')
                continue
            if phase == 'error':
                raise RuntimeError(f'the {label} run failed: {value}; see '
                                   f'{run_log(args, label)}')
            if phase == 'done':
                done[label] = dict(subnets=value, train_seconds=total)
            else:
                bars.update(tasks[label, phase], completed=value, total=total)
    for process in processes.values():
        process.join()
    # in the order of RUNS, whichever run finished first
    return {label: done[label] for label, _ in RUNS}


def run_log(args: argparse.Namespace, label: str) -> str:
    """The log file of a run."""
    return osp.join(args.work_dir, dict(RUNS)[label], 'demo.log')


def next_commands(args: argparse.Namespace) -> List[str]:
    """The commands to try next."""
    checkpoint = osp.join(args.work_dir, 'stpp', f'epoch_{args.epochs}.pth')
    if osp.abspath(checkpoint).startswith(REPO + os.sep):
        checkpoint = osp.relpath(checkpoint, REPO)
    config = 'configs/fashion_mnist/resnet14_stpp_fashion-mnist.py'
    return [
        'python tools/demo.py --full   # 3 epochs on 30000 images, all '
        'test images',
        'python tools/benchmark/accuracy.py --threads 1 --num-workers 1   '
        '# the full benchmark: 4 methods x 3 seeds',
        f'python tools/model_converters/export_subnet.py {config} '
        f'{checkpoint} --subnet 1,1,1 --out-dir work_dirs/demo/resnet8',
        f'python tools/analysis/eval_subnets.py --runs {config}:{checkpoint}'
        ' --split test --x macs',
    ]


def main(argv: Optional[List[str]] = None) -> int:
    """Train both runs, print the table, write the plot and the JSON."""
    args = parse_args(argv)
    try:
        for _, method in RUNS:
            check_data_roots(demo_config(method, args.work_dir, budget(args)))
    except FileNotFoundError as error:
        print(f'error: {error}', file=sys.stderr)
        return 2
    images = args.train_size or TRAIN_IMAGES
    print(f'Training a ResNet-14 on {images} Fashion-MNIST images for '
          f'{args.epochs} epoch(s), plainly and with ST++, at the same time; '
          f'logs in {args.work_dir}/<run>/demo.log')
    start = time.time()
    try:
        runs = run_in_parallel(args)
    except RuntimeError as error:
        print(f'error: {error}', file=sys.stderr)
        return 1
    print(f'\nTop-1 (%) on {args.test_size or "all 10000"} test images of '
          'the full network and every subnet (kept blocks per stage), '
          f'without and with BN re-estimated on {args.recalibration_images} '
          'training images:\n')
    print(side_by_side(runs))
    print('\n' + '\n'.join(loafing_summary(runs)))
    fig = plot_subnets([dict(label=label, subnets=run['subnets'])
                        for label, run in runs.items()])
    fig.axes[0].set_title('Loafing: subnets of a baseline and of ST++')
    fig.tight_layout()
    png, json_path = (osp.join(args.work_dir, f'loafing.{ext}')
                      for ext in ('png', 'json'))
    fig.savefig(png, dpi=120)
    dump(dict(settings=vars(args), runs=runs), json_path, indent=2)
    training = ', '.join(f'{label} {run["train_seconds"] / 60:.1f} min'
                         for label, run in runs.items())
    print(f'\nwrote {png} and {json_path}; {(time.time() - start) / 60:.1f} '
          f'min in all (training: {training})')
    print('\nNext:\n' + '\n'.join(f'  {c}' for c in next_commands(args)))
    return 0


if __name__ == '__main__':
    sys.exit(main())
