# Copyright (c) mmstim contributors. All rights reserved.
"""Accuracy of baseline, stochastic depth, ST and ST++ on Fashion-MNIST.

Trains every (method, seed) of ``configs/fashion_mnist`` with one budget and
tests the full network and the ``default`` rule's subnets, without and with
BN re-estimation; means ± std use the seeds finished for every method.
Finished runs are skipped, a finished training (``training.json``) is
evaluated without training again and an interrupted one resumes.
``--holdout N`` evaluates on the last N training images, not trained on,
instead of the test images; ``--set`` overrides config values (runs with
overrides train in their own folder); ``--stage-blocks`` trains another
depth; ``--merge`` adds runs made elsewhere; ``--quick`` is a smoke test.
"""
import argparse
import os.path as osp
import sys
from dataclasses import fields
from typing import List, Optional

import torch
from mmengine.config import DictAction

import mmstim  # noqa: F401  (registers the components)
from mmstim.benchmark.accuracy import (METHODS, REPO, TRAIN_IMAGES,
                                       AccuracyBenchmark, held_out_train_size,
                                       is_current, load_results, merge_runs,
                                       method_config, run_settings,
                                       train_and_evaluate)
from mmstim.benchmark.summary import save

FULL = dict(epochs=10, seeds=[0, 1, 2], train_size=0, test_size=0,
            recalibration_images=2000)
QUICK = dict(epochs=1, seeds=[0], train_size=256, test_size=256,
             recalibration_images=256, num_workers=0)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Parse the options; those not given take the full or quick defaults."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add = parser.add_argument
    add('--methods', nargs='+', choices=METHODS, default=list(METHODS))
    add('--epochs', type=int, help='default 10 (quick: 1)')
    add('--seeds', type=int, nargs='+', help='default 0 1 2 (quick: 0)')
    add('--train-size', type=int, help='first N training images; 0: all')
    add('--test-size', type=int, help='first N test images; 0: all')
    add('--holdout', type=int, default=0, metavar='N',
        help='hold the last N training images out of training and evaluate '
        'on them instead of the test images; default 0: the test images')
    add('--set', nargs='+', action=DictAction, default={},
        metavar='[METHOD:]KEY=VALUE',
        help="config overrides, e.g. model.backbone.drop_path_rate=0.05: of "
        "every method's config, or of one with a METHOD: prefix")
    add('--subnets', type=int, metavar='N',
        help='evaluate the full network and N - 1 subnets of the rule drawn '
        "with the run's seed (1: the full network only); default: all")
    add('--recalibration-images', type=int,
        help='training images to re-estimate BN on per subnet; default 2000')
    add('--quick', action='store_true',
        help='smoke test: 1 epoch, 256 train and test images, seed 0')
    add('--force', action='store_true', help='rerun finished runs too')
    add('--stage-blocks', type=int, nargs='+', metavar='N',
        help='blocks per stage of the trained network (AnyDepthResNet with '
        "the configs' ResNet_CIFAR blocks); default: the configs' 2 2 2")
    add('--data-root', default=osp.join(REPO, 'data', 'fashion_mnist'))
    add('--work-dir',
        default=osp.join(REPO, 'work_dirs', 'benchmark_accuracy'))
    add('--num-workers', type=int,
        help="data loader workers (default: the configs'; quick: 0)")
    add('--threads', type=int,
        help="torch's intra-op threads; 1 is fastest on busy cores")
    add('--merge', nargs='+', metavar='RESULTS_JSON',
        help="add these files' runs to --out-json instead of training; a "
        'run there with the same settings is kept unless --force')
    add('--out-json',
        default=osp.join(REPO, 'benchmarks', 'results', 'fashion_mnist.json'))
    add('--out-md', help='markdown table; default: --out-json with .md')
    args = parser.parse_args(argv)
    if args.subnets is not None and args.subnets < 1:
        parser.error(f'--subnets must be at least 1, got {args.subnets}')
    if not 0 <= args.holdout < TRAIN_IMAGES:
        parser.error(f'--holdout must be in [0, {TRAIN_IMAGES}), '
                     f'got {args.holdout}')
    if args.holdout and args.test_size is not None:
        parser.error('--test-size picks test images; with --holdout the '
                     'held-out training images are evaluated')
    if args.holdout and (args.train_size or 0) > TRAIN_IMAGES - args.holdout:
        parser.error(f'--train-size {args.train_size} is more than the '
                     f'{TRAIN_IMAGES - args.holdout} training images before '
                     f'the {args.holdout} held out')
    for key in args.set:
        scope = key.rpartition(':')[0]
        if scope and scope not in args.methods:
            parser.error(f'--set {key}: {scope!r} is not one of the '
                         f'compared methods {args.methods}')
    for key, value in (QUICK if args.quick else FULL).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.holdout:
        args.test_size = 0  # the whole held-out slice is evaluated
    return args


def benchmark(args: argparse.Namespace) -> AccuracyBenchmark:
    """The benchmark of the parsed options."""
    values = dict(vars(args), overrides=args.set)
    return AccuracyBenchmark(**{f.name: values[f.name]
                                for f in fields(AccuracyBenchmark)})


def main(argv: Optional[List[str]] = None) -> int:
    """Train and evaluate what is missing (or merge); write the summary."""
    args = parse_args(argv)
    bench = benchmark(args)
    if args.threads:
        torch.set_num_threads(args.threads)
    for split in [] if args.merge else ('train', 't10k'):
        path = osp.join(args.data_root, f'{split}-images-idx3-ubyte')
        if not osp.isfile(path):
            print(f'error: {path} does not exist; prepare the data with '
                  'python tools/dataset_converters/prepare_fashion_mnist.py '
                  '(or pass --data-root).', file=sys.stderr)
            return 2
    try:
        for method in bench.methods:  # an unknown --set key fails here
            method_config(bench, method)
        if not args.merge:
            held_out_train_size(bench)
        data = load_results(bench.out_json)
        merge_runs(data, args.merge or [], bench)
    except ValueError as error:
        print(f'error: {error}', file=sys.stderr)
        return 2
    for seed in [] if args.merge else bench.seeds:
        for method in bench.methods:
            done = data['runs'].get(method, {}).get(str(seed))
            if is_current(done, run_settings(bench, method)) and \
                    not bench.force:
                print(f'skipped {method} seed {seed}: finished '
                      f'{done["finished_at"]} with the same settings')
                continue
            print(f'training {method} seed {seed} ...', flush=True)
            run = train_and_evaluate(bench, method, seed)
            data['runs'].setdefault(method, {})[str(seed)] = run
            save(data, bench)
            print(f'{method} seed {seed}: top-1 {run["top1"]:.2f}, '
                  f'{run["wall_time_s"] / 60:.1f} min', flush=True)
    print(save(data, bench))
    return 0


if __name__ == '__main__':
    sys.exit(main())
