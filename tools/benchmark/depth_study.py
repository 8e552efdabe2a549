# Copyright (c) mmstim contributors. All rights reserved.
"""The depth and schedule study: choose on validation, report on test.

    python tools/benchmark/depth_study.py --stage-blocks 5 5 5 --jobs 2

Runs ``tools/benchmark/accuracy.py`` for one CIFAR-style ResNet (3 stages
of n basic blocks) as ``docs/en/benchmarks.md`` ("Depth and schedule study")
designs it:

1. validation: the baseline, stochastic depth at every ``--drop-path-rates``
   and ST++ at every ``--amplitudes``, for the ``--selection-seeds``,
   trained on the first ``--train-size`` images and evaluated (full network
   only) on the last ``--holdout`` training images;
2. choice: per method, the value with the highest mean validation top-1
   over the selection seeds; a tie goes to the config's value;
3. test: every method at its chosen value for all ``--seeds`` (the
   trainings of step 1 are reused, not repeated), and the baseline trained
   for as many epochs as ST++ took in time (the equal-compute baseline),
   evaluated once on the test images, with their subnets.

Every run is one accuracy-benchmark process with its own results file and
log under ``--work-dir``; ``--jobs`` of them run at once, validation runs
first, and a method's test runs as soon as its own validation runs have
finished. Finished runs are skipped and interrupted ones resume, so the
same command continues a study.
The report (JSON and markdown) holds the validation grid, the choices, and
per method the test top-1 (mean ± std), its difference to the baseline and
to the equal-compute baseline paired by seed, the mean subnet top-1 and the
training time. ``--plan`` lists the runs whose settings are known, without
starting them; ``--report`` writes the report of the finished runs only.
"""
import argparse
import functools
import glob
import os
import os.path as osp
import subprocess
import sys
import time
from concurrent.futures import (FIRST_COMPLETED, Future, ThreadPoolExecutor,
                                wait)
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional

import numpy as np
from mmengine.config import Config
from mmengine.fileio import dump, load

from mmstim.analysis import (format_mean_std, logged_train_scalars, mean_std,
                             paired_difference)

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
ACCURACY = osp.join(REPO, 'tools', 'benchmark', 'accuracy.py')
CONFIGS = osp.join(REPO, 'configs', 'fashion_mnist')
CONFIG_BLOCKS = [2, 2, 2]  # the network of the configs, ResNet-14
GRID_KEYS = {
    'droppath': 'model.backbone.drop_path_rate',
    'stpp': 'model.distill_loss.amplitude'
}
METHOD_NAMES = dict(
    baseline='baseline', droppath='stochastic depth', stpp='ST++',
    st='vanilla ST')
# the relative cost of a run, to start the longest first
RELATIVE_COST = dict(baseline=1.0, droppath=1.0, st=1.7, stpp=1.8)


@dataclass(frozen=True)
class Run:
    """One accuracy-benchmark process: one method, value, seed and split.

    Attributes:
        method (str): One of the accuracy benchmark's methods.
        seed (int): The seed; runs of a seed share weights and data order.
        split (str): ``'val'`` (the held-out training images, full network
            only) or ``'test'`` (the test images, with the subnets).
        value (str, optional): The value of the method's grid key, as text.
        epochs (int, optional): The equal-compute baseline's epochs; None
            for the study's epochs.
    """
    method: str
    seed: int
    split: str
    value: Optional[str] = None
    epochs: Optional[int] = None

    @property
    def name(self) -> str:
        """E.g. ``val_stpp_2.0_seed0`` or ``test_baseline_66ep_seed1``."""
        value = f'_{self.value}' if self.value is not None else ''
        epochs = f'_{self.epochs}ep' if self.epochs else ''
        return f'{self.split}_{self.method}{value}{epochs}_seed{self.seed}'


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
    if args.subnets is None and max(args.stage_blocks) > 2:
        args.subnets = 16
    args.net = f'r{2 * sum(args.stage_blocks) + 2}'
    args.out_json = args.out_json or osp.join(
        REPO, 'benchmarks', 'results', f'depth_study_{args.net}.json')
    return args


def config_value(method: str) -> str:
    """The value of a method's grid key in its config, e.g. ``'0.1'``."""
    cfg = Config.fromfile(
        osp.join(CONFIGS, f'resnet14_{method}_fashion-mnist.py'))
    return str(functools.reduce(lambda node, key: node[key],
                                GRID_KEYS[method].split('.'), cfg))


def grid(args: argparse.Namespace, method: str) -> List[Optional[str]]:
    """The values a method is validated at; ``[None]`` without a grid."""
    return dict(droppath=args.drop_path_rates, stpp=args.amplitudes).get(
        method, [None])


def validation_runs(args: argparse.Namespace) -> List[Run]:
    """Step 1: every grid value of every method, for the selection seeds."""
    return [Run(method, seed, 'val', value)
            for method in args.methods if method != 'st'
            for value in grid(args, method) for seed in args.selection_seeds]


def test_runs(args: argparse.Namespace, choices: Dict[str, str],
              equal_epochs: Optional[int]) -> List[Run]:
    """Step 3: every method at its choice, and the equal-compute baseline."""
    runs = [Run(method, seed, 'test', choices.get(method))
            for method in args.methods for seed in args.seeds]
    if equal_epochs:
        runs += [Run('baseline', seed, 'test', epochs=equal_epochs)
                 for seed in args.seeds]
    return runs


def net_dir(args: argparse.Namespace) -> str:
    """The study's folder for this network."""
    return osp.join(args.work_dir, args.net)


def results_path(args: argparse.Namespace, run: Run) -> str:
    """The results JSON of one run."""
    return osp.join(net_dir(args), 'results', f'{run.name}.json')


def command(args: argparse.Namespace, run: Run) -> List[str]:
    """The accuracy-benchmark command line of a run.

    The equal-compute baseline trains in its own work dir, since its epochs
    differ from the baseline's.
    """
    work_dir = net_dir(args) + (
        f'_equal_compute_{run.epochs}ep' if run.epochs else '')
    line = [
        sys.executable, ACCURACY, '--methods', run.method, '--seeds',
        str(run.seed), '--train-size', str(args.train_size), '--epochs',
        str(run.epochs or args.epochs), '--recalibration-images',
        str(args.recalibration_images), '--threads', str(args.threads),
        '--num-workers', str(args.num_workers), '--data-root', args.data_root,
        '--work-dir', work_dir, '--out-json', results_path(args, run)
    ]
    if args.stage_blocks != CONFIG_BLOCKS:
        line += ['--stage-blocks', *map(str, args.stage_blocks)]
    if run.value is not None:
        line += ['--set', f'{run.method}:{GRID_KEYS[run.method]}={run.value}']
    if run.split == 'val':
        line += ['--holdout', str(args.holdout), '--subnets', '1']
    elif args.subnets:
        line += ['--subnets', str(args.subnets)]
    return line


def finished_run(args: argparse.Namespace, run: Run) -> Optional[dict]:
    """The results of a run, or None when it has not finished with the
    study's settings."""
    path = results_path(args, run)
    result = load(path)['runs'].get(run.method, {}).get(
        str(run.seed)) if osp.isfile(path) else None
    settings = (result or {}).get('settings', {})
    expected = dict(
        epochs=run.epochs or args.epochs, train_size=args.train_size,
        recalibration_images=args.recalibration_images,
        stage_blocks=args.stage_blocks,
        holdout=args.holdout if run.split == 'val' else 0)
    found = dict(settings, stage_blocks=settings.get('stage_blocks',
                                                     CONFIG_BLOCKS),
                 holdout=settings.get('holdout', 0))
    return result if result and all(
        found.get(k) == v for k, v in expected.items()) else None


def launch(args: argparse.Namespace, run: Run, log: str) -> int:
    """Run one accuracy-benchmark process, its output appended to ``log``;
    return its exit code."""
    with open(log, 'a') as f:
        return subprocess.call(command(args, run), stdout=f,
                               stderr=subprocess.STDOUT, cwd=REPO)


def run_all(args: argparse.Namespace,
            ready: Callable[[], List[Run]]) -> None:
    """Run what has not finished, ``--jobs`` at a time: validation runs
    first, since the test runs wait for them, then the longest first.

    ``ready`` is asked again whenever a run ends, so that runs which become
    known meanwhile (the test runs of a method whose validation runs just
    finished) start without waiting for the other methods' validation.

    Args:
        ready (callable): Returns the runs whose settings are known now.

    Raises:
        RuntimeError: Some runs failed (the others still ran, and no run
            that depends on a failed one); the message names their logs.
    """
    os.makedirs(osp.join(net_dir(args), 'logs'), exist_ok=True)

    def execute(run: Run) -> Optional[str]:
        log = osp.join(net_dir(args), 'logs', f'{run.name}.log')
        start = time.time()
        print(f'started {run.name} (log: {log})', flush=True)
        code = launch(args, run, log)
        minutes = (time.time() - start) / 60
        print(f'{"finished" if code == 0 else "FAILED"} {run.name} after '
              f'{minutes:.1f} min', flush=True)
        return None if code == 0 else log

    running: Dict[Future, Run] = {}
    failed: Dict[Run, str] = {}
    with ThreadPoolExecutor(args.jobs) as pool:
        while True:
            todo = sorted(
                (r for r in ready() if r not in failed
                 and r not in running.values()
                 and finished_run(args, r) is None),
                key=lambda r: (r.split != 'val', -RELATIVE_COST[r.method] *
                               (r.epochs or args.epochs)))
            if todo and not running and not failed:
                print(f'{len(todo)} runs ready to do, {args.jobs} at a '
                      f'time, {args.threads} thread(s) each', flush=True)
            for run in todo[:args.jobs - len(running)]:
                running[pool.submit(execute, run)] = run
            if not running:
                break
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                run = running.pop(future)
                if future.result():
                    failed[run] = future.result()
    if failed:
        raise RuntimeError(f'{len(failed)} run(s) failed; see ' +
                           ', '.join(failed.values()))


def choose(top1: Dict[str, List[float]], default: str) -> str:
    """The value with the highest mean top-1; a tie goes to ``default``.

    Args:
        top1 (dict): Per value (as text), the validation top-1 per seed.
        default (str): The config's value.
    """
    means = {value: float(np.mean(t)) for value, t in top1.items()}
    best = [value for value, m in means.items() if m == max(means.values())]
    same = [value for value in best if float(value) == float(default)]
    return (same or best)[0]


def equal_compute_epochs(epochs: int, stpp_seconds: List[float],
                         baseline_seconds: List[float]) -> int:
    """Epochs of the baseline that take as long as ST++'s ``epochs``."""
    return int(round(epochs * np.mean(stpp_seconds) /
                     np.mean(baseline_seconds)))


def iteration_seconds(work_dir: str) -> float:
    """The median logged training-iteration time of a run.

    The median of MMEngine's logged times (``vis_data/scalars.json`` of
    every part of a resumed run; a step logged twice counts once, as its
    last part logged it) is robust to passing load on a shared machine,
    which the run's total time is not.

    Raises:
        ValueError: Nothing was logged in ``work_dir``.
    """
    times = [record['time'] for record in
             logged_train_scalars(work_dir).values()]
    if not times:
        raise ValueError(f'no logged training iteration in {work_dir}')
    return float(np.median(times))


def validation(args: argparse.Namespace,
               partial: bool = False) -> Optional[dict]:
    """Step 2 from the validation runs: the grid, choices, equal compute.

    Args:
        partial (bool): Choose for the methods whose validation runs have
            all finished, and name the others in ``'pending'``.

    Returns:
        dict, optional: ``grid``, ``choices``, ``equal_compute_epochs``
        (once the baseline and ST++ are chosen) and ``pending``; without
        ``partial``, None until every validation run has finished.
    """
    runs = {run: finished_run(args, run) for run in validation_runs(args)}
    pending = sorted({run.method for run, result in runs.items()
                      if result is None})
    if pending and not partial:
        return None
    table: Dict[str, dict] = {}
    for run, result in runs.items():
        if run.method in pending:
            continue
        entry = table.setdefault(run.method, {}).setdefault(
            run.value or '-', dict(top1_per_seed={}, train_time_s=[]))
        entry['top1_per_seed'][str(run.seed)] = result['top1']
        entry['train_time_s'].append(result['train_time_s'])
        entry.setdefault('iteration_s', []).append(
            iteration_seconds(result['work_dir']))
    choices = {
        method: choose({v: list(e['top1_per_seed'].values())
                        for v, e in table[method].items()},
                       config_value(method))
        for method in GRID_KEYS if method in table
    }
    for method, values in table.items():
        for value, entry in values.items():
            entry.update(mean_std(list(entry['top1_per_seed'].values())),
                         train_time_s=float(np.mean(entry['train_time_s'])),
                         iteration_s=float(np.mean(entry['iteration_s'])),
                         chosen=choices.get(method) == value)
    equal = None
    if {'baseline', 'stpp'} <= set(table):
        equal = equal_compute_epochs(
            args.epochs, [table['stpp'][choices['stpp']]['iteration_s']],
            [table['baseline']['-']['iteration_s']])
    return dict(grid=table, choices=choices, equal_compute_epochs=equal,
                pending=pending)


def ready_runs(args: argparse.Namespace) -> List[Run]:
    """The runs whose settings are known now: every validation run, and
    the test runs of each method whose validation runs have all finished
    (the equal-compute baseline once the baseline's and ST++'s have)."""
    known = validation(args, partial=True)
    tests = test_runs(args, known['choices'], known['equal_compute_epochs'])
    return validation_runs(args) + [
        run for run in tests if run.method not in known['pending']]


def row_label(run: Run) -> str:
    """A method's row in the report, e.g. ``ST++ (amplitude 2.0)``."""
    name = METHOD_NAMES[run.method]
    if run.epochs:
        return f'{name}, equal compute ({run.epochs} epochs)'
    key = dict(droppath='drop_path_rate', stpp='amplitude').get(run.method)
    return f'{name} ({key} {run.value})' if key else name


def test_table(args: argparse.Namespace, runs: List[Run]) -> Dict[str, dict]:
    """Per row: the test results of its finished seeds, and paired
    differences to the baseline and the equal-compute baseline."""
    rows: Dict[str, dict] = {}
    for run in runs:
        result = finished_run(args, run)
        row = rows.setdefault(row_label(run), dict(
            method=run.method, value=run.value,
            epochs=run.epochs or args.epochs, results={}))
        if result is not None:
            row['results'][str(run.seed)] = result
    for row in rows.values():
        results = list(row.pop('results').values())
        row['top1_per_seed'] = {str(r['seed']): r['top1'] for r in results}
        for key in ('top1', 'mean_subnet_top1',
                    'mean_subnet_top1_recalibrated'):
            row[key] = mean_std([r[key] for r in results])
        row['train_minutes'] = mean_std(
            [r['train_time_s'] / 60 for r in results])
        row['devices'] = sorted({r['device'] for r in results})
    references = [label for label, row in rows.items()
                  if row['method'] == 'baseline']
    for label, row in rows.items():
        for reference in references:
            row[f'minus {reference}'] = None if label == reference else (
                paired_difference(row['top1_per_seed'],
                                  rows[reference]['top1_per_seed']))
    return rows


def report(args: argparse.Namespace) -> dict:
    """The study's report from the runs finished so far."""
    chosen = validation(args)
    rows = test_table(args, test_runs(
        args, chosen['choices'], chosen['equal_compute_epochs'])
        if chosen else [])
    complete = bool(chosen) and all(
        len(row['top1_per_seed']) == len(args.seeds) for row in rows.values())
    return dict(
        depth=2 * sum(args.stage_blocks) + 2,
        schedule=f'{args.train_size} images x {args.epochs} epochs',
        network=f'ResNet-{2 * sum(args.stage_blocks) + 2} '
        f'({"-".join(map(str, args.stage_blocks))} basic blocks per stage)',
        design=dict(
            train_images=args.train_size, epochs=args.epochs,
            holdout=args.holdout, seeds=args.seeds,
            selection_seeds=args.selection_seeds, methods=args.methods,
            grids={m: grid(args, m) for m in GRID_KEYS},
            test_subnets=args.subnets or 'all',
            recalibration_images=args.recalibration_images),
        complete=complete, validation=chosen, test=rows)


def markdown(data: dict) -> str:
    """The report as markdown: the validation grid, then the test table."""
    design = data['design']
    lines = [
        f'## {data["network"]}', '',
        f'{design["epochs"]} epochs on the first {design["train_images"]} '
        f'training images. Choices on the last {design["holdout"]} training '
        f'images (validation, seeds {design["selection_seeds"]}); test '
        f'top-1 on the 10,000 test images, seeds {design["seeds"]}.' +
        ('' if data['complete'] else ' **Not complete: finished runs only.**')
    ]
    chosen = data['validation']
    if not chosen:
        return '\n'.join(lines + ['', 'Validation runs not finished.', ''])
    lines += ['', '| method | value | validation top-1 (%) | train time '
              '(min) | median s/iter | chosen |', '|---|---|---|---|---|---|']
    for method, values in chosen['grid'].items():
        for value, entry in values.items():
            lines.append(
                f'| {METHOD_NAMES[method]} | {value} | '
                f'{format_mean_std(entry)} | '
                f'{entry["train_time_s"] / 60:.1f} | '
                f'{entry["iteration_s"]:.3f} | '
                f'{"yes" if entry["chosen"] else ""} |')
    if chosen['equal_compute_epochs']:
        lines += ['', 'Equal-compute baseline: '
                  f'{chosen["equal_compute_epochs"]} epochs, '
                  f'{design["epochs"]} x the ratio of the median iteration '
                  'times of the chosen ST++ and the baseline validation runs.']
    references = [k[len('minus '):] for k in next(iter(
        data['test'].values()), {}) if k.startswith('minus ')]
    lines += ['', '| method | seeds | top-1 (%) | ' + ' | '.join(
        f'minus {r} (pp, paired)' for r in references) +
        ' | mean subnet top-1 (%) | same, BN re-estimated (%) | train time '
        '(min) |', '|---' * (6 + len(references)) + '|']
    for label, row in data['test'].items():
        lines.append('| ' + ' | '.join(
            [label, str(len(row['top1_per_seed'])),
             format_mean_std(row['top1'])] +
            [format_mean_std(row[f'minus {r}']) for r in references] +
            [format_mean_std(row['mean_subnet_top1']),
             format_mean_std(row['mean_subnet_top1_recalibrated']),
             format_mean_std(row['train_minutes'], 1)]) + ' |')
    return '\n'.join(lines) + '\n'


def gains_by_depth(reports: List[dict]) -> Dict[str, List[tuple]]:
    """The paired differences of the reports, as series against depth:
    each method (and the equal-compute baseline) minus the baseline, and
    each method minus the equal-compute baseline.

    Args:
        reports (list[dict]): Reports of :func:`report`, one per network.

    Returns:
        dict: Per ``'<schedule>: <method> - <reference>'``, a list of
        ``(depth, mean, std)`` by depth (std 0 for one seed).
    """
    series: Dict[str, List[tuple]] = {}
    for data in sorted(reports, key=lambda d: d['depth']):
        for row_name, row in data['test'].items():
            name = METHOD_NAMES[row['method']]
            if 'equal compute' in row_name:
                name = 'equal-compute baseline'
            elif row['method'] == 'baseline':
                continue  # the reference
            for key, diff in row.items():
                if not key.startswith('minus ') or not diff or diff[
                        'mean'] is None:
                    continue
                reference = ('equal-compute baseline'
                             if 'equal compute' in key else 'baseline')
                label = f'{data["schedule"]}: {name} - {reference}'
                series.setdefault(label, []).append(
                    (data['depth'], diff['mean'], diff['std'] or 0.0))
    return series


def plot_gains(reports: List[dict], path: str) -> None:
    """Plot :func:`gains_by_depth` with error bars (std over seeds), the
    series shifted a little along the depth axis so that their error bars
    do not hide each other."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 4.2))
    ax.axhline(0, color='grey', linewidth=0.8)
    series = gains_by_depth(reports)
    for i, (label, points) in enumerate(series.items()):
        depths, means, stds = zip(*points)
        shift = 0.4 * (i - (len(series) - 1) / 2)  # error bars side by side
        ax.errorbar([d + shift for d in depths], means, yerr=stds,
                    marker='o', capsize=3, label=label)
    ax.set_xticks(sorted({d for points in series.values()
                          for d, _, _ in points}))
    ax.set_xlabel('depth (layers of the CIFAR-style ResNet)')
    ax.set_ylabel('full-network top-1 difference (pp, paired by seed)')
    ax.set_title('Fashion-MNIST test set, mean ± std over seeds')
    ax.legend(fontsize='small', loc='upper left', bbox_to_anchor=(1, 1))
    fig.savefig(path, dpi=120, bbox_inches='tight')  # with the legend
    plt.close(fig)


def write_report(args: argparse.Namespace) -> str:
    """Write the report's JSON and markdown, and the plot of every network's
    report in its folder (``depth_study.png``, once a test run finished);
    return the markdown."""
    data = report(args)
    text = markdown(data)
    folder = osp.dirname(osp.abspath(args.out_json))
    os.makedirs(folder, exist_ok=True)
    dump(data, args.out_json, indent=2)
    with open(osp.splitext(args.out_json)[0] + '.md', 'w') as f:
        f.write(text)
    reports = [load(path) for path in sorted(
        glob.glob(osp.join(folder, 'depth_study_r*.json')))]
    if gains_by_depth(reports):  # a test result to plot
        plot_gains(reports, osp.join(folder, 'depth_study.png'))
    return text


def main(argv: Optional[List[str]] = None) -> int:
    """Run what is missing of the study; write its report."""
    args = parse_args(argv)
    if args.plan:
        print('\n'.join(' '.join(command(args, run)) for run in
                        ready_runs(args) if finished_run(args, run) is None))
        pending = validation(args, partial=True)['pending']
        if pending:
            print(f'# then the test runs of {", ".join(pending)}, at the '
                  'values chosen on validation')
        return 0
    if not args.report:
        try:
            run_all(args, functools.partial(ready_runs, args))
        except RuntimeError as error:
            print(write_report(args))
            print(f'error: {error}', file=sys.stderr)
            return 1
    print(write_report(args))
    return 0


if __name__ == '__main__':
    sys.exit(main())
