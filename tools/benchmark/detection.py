# Copyright (c) mmstim contributors. All rights reserved.
"""Detection pretraining, measured: does a stimulatively trained backbone
make a better detector?

    python tools/benchmark/detection.py --plan          # the runs, estimated
    python tools/benchmark/detection.py --jobs 2        # run or resume all
    python tools/benchmark/detection.py --report        # tables and plot

Needs the canvases (``tools/dataset_converters/fashion_mnist_detection.py``)
and Fashion-MNIST (``make data``). Pretrains the backbones, exports their
1-1-1 subnets, fine-tunes a RetinaNet per backbone source and seed, and
evaluates it; see :mod:`mmstim.benchmark.detection` for the design. Every
run is a process with its own log under ``--work-dir``/logs; the same
command resumes the study. ``--run NAME`` runs one fine-tuning in this
process (the study's own jobs call it).
"""
import argparse
import os.path as osp
import sys
from typing import List, Optional

from mmstim.benchmark import run_jobs
from mmstim.benchmark.detection import REPO, SOURCES, DetectionStudy
from mmstim.benchmark.detection_report import write_report
from mmstim.benchmark.detection_run import run_finetune
from mmstim.utils.env import require_mmcv_ops

DEFAULTS = DetectionStudy()


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add = parser.add_argument
    add('--plan', action='store_true', help='list the runs, start nothing')
    add('--report', action='store_true',
        help='write the report of the finished runs, start nothing')
    add('--run', metavar='NAME', help='run one fine-tuning here')
    add('--jobs', type=int, default=1, help='processes at once')
    add('--out-json', default=osp.join(REPO, 'benchmarks', 'results',
                                       'detection_fashion_mnist.json'))
    add('--work-dir', default=DEFAULTS.work_dir)
    add('--fashion-mnist', default=DEFAULTS.fashion_mnist)
    add('--det-root', default=DEFAULTS.det_root)
    add('--sources', nargs='+', default=DEFAULTS.sources,
        choices=list(SOURCES))
    add('--seeds', type=int, nargs='+', default=DEFAULTS.seeds)
    for name in ('selection_seed', 'pretrain_epochs', 'pretrain_images',
                 'holdout', 'det_epochs', 'recalibration_images', 'threads',
                 'num_workers'):
        add('--' + name.replace('_', '-'), type=int,
            default=getattr(DEFAULTS, name))
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    fields = set(DetectionStudy.__dataclass_fields__)
    try:
        study = DetectionStudy(**{k: v for k, v in vars(args).items()
                                  if k in fields})
        if not (args.plan or args.report):  # detectors need mmcv's ops
            require_mmcv_ops('tools/benchmark/detection.py')
        if args.run:
            record = run_finetune(study, args.run)
            print(f'{args.run}: val mAP {record["val"]["bbox_mAP"]:.3f}' +
                  (f', test mAP {record["test"]["bbox_mAP"]:.3f}'
                   if 'test' in record else ''))
        elif args.plan:
            print('\n'.join(study.plan()) or 'nothing left to run')
        else:
            if not args.report:
                run_jobs(study.jobs, args.jobs,
                         echo=lambda line: print(line, flush=True))
            write_report(study, args.out_json)
            print(f'wrote {args.out_json} and its .md and .png')
    except (FileNotFoundError, ValueError, RuntimeError) as error:
        print(f'error: {error}', file=sys.stderr)
        return 2
    return 0


if __name__ == '__main__':
    sys.exit(main())
