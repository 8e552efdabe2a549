# Copyright (c) mmstim contributors. All rights reserved.
"""Latency of the full network and its subnets, onnxruntime and PyTorch.

    python tools/benchmark/latency.py CONFIG CHECKPOINT --subnets 1,1,1 \\
        2,2,1 --out FILE.json [--input-shape C H W] [--batches 1 64]
        [--threads 1 0] [--runs 50] [--warmup 10]

Every model is exported (``mmstim.deploy``: the kept blocks only, ONNX
checked against PyTorch) into a temporary folder and timed call by call
in onnxruntime and PyTorch eager, at each batch size and thread count (0:
every core), after a warm-up: median and quartiles. The CPU time other
processes took during each measurement is read from /proc/stat; figures
measured while they competed are marked unreliable in FILE and in the
printed table, and the command then exits with status 3.
"""
import argparse
import os.path as osp
import sys
import tempfile

from mmengine.config import Config
from mmengine.fileio import load

from mmstim.deploy import input_shape
from mmstim.deploy.latency import subnet_latency, write_frontier_plot
from mmstim.utils.report import dump_atomic


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('--subnets', nargs='*', default=[],
                        help='kept depths or masks per stage, e.g. 1,1,1')
    parser.add_argument('--out', required=True, help='the JSON report')
    parser.add_argument('--input-shape', type=int, nargs=3,
                        metavar=('C', 'H', 'W'))
    parser.add_argument('--batches', type=int, nargs='+', default=[1, 64])
    parser.add_argument('--threads', type=int, nargs='+', default=[1, 0],
                        help='thread counts; 0 is every core')
    parser.add_argument('--runs', type=int, default=50)
    parser.add_argument('--warmup', type=int, default=10)
    parser.add_argument('--frontier', metavar='FRONTIER_JSON',
                        help='also plot its accuracies against the '
                        'onnxruntime batch-1 one-thread latency, as --out '
                        'with .png')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    shape = tuple(args.input_shape
                  or input_shape(Config.fromfile(args.config)))
    with tempfile.TemporaryDirectory() as models:  # timed, then removed
        report = subnet_latency(args.config, args.checkpoint, args.subnets,
                                models, shape, batches=args.batches,
                                threads=args.threads, runs=args.runs,
                                warmup=args.warmup)
    dump_atomic(dict(report, config=args.config, input_shape=shape),
                args.out)
    print(f'{report["processor"]}, {report["cores"]} cores, torch '
          f'{report["torch"]}, input {shape}\n{report["table"]}')
    for ratio in report['ratios']:
        if ratio['model'] != 'full':
            print(f'{ratio["model"]} / full, {ratio["backend"]} batch '
                  f'{ratio["batch"]} threads {ratio["threads"]}: '
                  f'{ratio["ratio"]:.3f}')
    if args.frontier:
        write_frontier_plot(load(args.frontier), report,
                            osp.splitext(args.out)[0] + '.png')
    if not report['reliable']:
        print('UNRELIABLE: other processes competed during some '
              'measurements (see "other processes").', file=sys.stderr)
        return 3
    return 0


if __name__ == '__main__':
    sys.exit(main())
