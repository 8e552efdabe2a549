# Copyright (c) mmstim contributors. All rights reserved.
"""The demo's runs: a baseline and ST++ trained with one small budget, their
subnets tested side by side (``tools/demo.py``)."""
import os
import os.path as osp
import sys
import time
from typing import Dict, List

import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.runner import Runner

from mmstim.analysis.subnet_eval import evaluate_subnets, mean_subnet_accuracy
from mmstim.utils.report import markdown_table
from .accuracy import AccuracyBenchmark, run_config


def demo_config(method: str, work_dir: str,
                bench: AccuracyBenchmark) -> Config:
    """The accuracy benchmark's run config of ``method`` (``'baseline'``
    or ``'stpp'``) for seed 0, with a checkpoint at the end only."""
    cfg = run_config(bench, method, seed=0)
    cfg.work_dir = work_dir
    cfg.default_hooks.checkpoint.interval = bench.epochs
    cfg.default_hooks.logger.interval = 20
    return cfg


class ProgressHook(Hook):
    """Reports each training and test iteration to a queue as ``(label,
    phase, done, total)``, ``phase`` being ``'train'`` or ``'test'``."""

    priority = 'LOWEST'

    def __init__(self, progress, label: str):
        self.progress, self.label = progress, label
        self.tested = self.total = 0

    def before_test(self, runner) -> None:
        loop = runner.test_loop  # a pass per subnet, two with BN re-est.
        passes = len(loop.subnet_specs()) * (
            2 if loop.recalibration_images else 1)
        self.total = passes * len(runner.test_dataloader)

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None) -> None:
        self.progress.put(
            (self.label, 'train', runner.iter + 1, runner.max_iters))

    def after_test_iter(self, runner, batch_idx, data_batch=None,
                        outputs=None) -> None:
        self.tested += 1
        self.progress.put((self.label, 'test', self.tested, self.total))


def train_and_test(label: str, method: str, work_dir: str,
                   bench: AccuracyBenchmark, recalibration_images: int,
                   threads: int, progress) -> None:
    """Train one run and test its subnets, in a process of its own.

    Output goes to ``<work_dir>/demo.log``; the results, or the error, go to
    ``progress`` (see :class:`ProgressHook`) as ``(label, 'done', results,
    train_seconds)`` or ``(label, 'error', message, None)``.
    """
    os.makedirs(work_dir, exist_ok=True)
    log = open(osp.join(work_dir, 'demo.log'), 'w')
    os.dup2(log.fileno(), sys.stdout.fileno())
    os.dup2(log.fileno(), sys.stderr.fileno())
    torch.set_num_threads(threads)
    try:
        cfg = demo_config(method, work_dir, bench)
        runner = Runner.from_cfg(cfg)
        runner.register_hook(ProgressHook(progress, label))
        start = time.time()
        runner.train()
        train_seconds = time.time() - start
        results, _ = evaluate_subnets(
            cfg, osp.join(work_dir, f'epoch_{bench.epochs}.pth'),
            hooks=[ProgressHook(progress, label)], split='test',
            rule='default', recalibration_images=recalibration_images)
        keys = ('name', 'depths', 'kept_blocks', 'full', 'top1',
                'top1_recalibrated')
        progress.put((label, 'done',
                      [{k: r[k] for k in keys if k in r} for r in results],
                      train_seconds))
    except BaseException as error:  # reported by the parent, with the log
        progress.put((label, 'error', f'{type(error).__name__}: {error}',
                      None))
        raise


def side_by_side(runs: Dict[str, dict]) -> str:
    """A markdown table: a row per subnet (in the same order in every run's
    ``subnets``), a column per run and accuracy, the subnets' mean last."""
    first = next(iter(runs.values()))['subnets']
    keys = [k for k in ('top1', 'top1_recalibrated') if k in first[0]]
    header = ['subnet', 'kept blocks'] + [
        f'{label}{", BN re-est." if key != "top1" else ""}'
        for label in runs for key in keys]
    rows = [[entry['name'], entry['kept_blocks']] + [
        f'{run["subnets"][index][key]:.2f}' for run in runs.values()
        for key in keys] for index, entry in enumerate(first)]
    rows.append(['mean of the subnets', '-'] + [
        f'{mean_subnet_accuracy(run["subnets"], key):.2f}'
        for run in runs.values() for key in keys])
    return markdown_table(header, rows)


def loafing_summary(runs: Dict[str, dict]) -> List[str]:
    """One line per run: what its subnets lose against its full network."""
    lines = []
    for label, run in runs.items():
        full = run['subnets'][0]
        drops = [
            f'{full[key] - mean_subnet_accuracy(run["subnets"], key):.1f} '
            f'pp{suffix}' for key, suffix in (
                ('top1', ''), ('top1_recalibrated', ' with BN re-estimated'))
            if key in full
        ]
        lines.append(f'{label}: the subnets lose {" / ".join(drops)} '
                     'against the full network, on average')
    return lines
