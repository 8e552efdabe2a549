# Copyright (c) mmstim contributors. All rights reserved.
"""The depth and schedule study: choose on validation, report on test.

Every run is one ``tools/benchmark/accuracy.py`` process with its own results
file and log, finished when :func:`is_current` accepts its recorded run.
"""
import functools
import glob
import os
import os.path as osp
import sys
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional

import numpy as np
from mmengine.config import Config
from mmengine.fileio import load

from mmstim.analysis import (format_mean_std, logged_train_scalars, mean_std,
                             paired_difference)
from mmstim.analysis.cost import training_cost_ratio
from mmstim.analysis.plot import plot_gains
from mmstim.utils.report import dump_atomic, markdown_table
from . import scheduler
from .accuracy import (REPO, AccuracyBenchmark, command_line, config_path,
                       is_current, run_settings)
from .scheduler import Job, run_jobs

CONFIG_BLOCKS = [2, 2, 2]  # the network of the configs, ResNet-14
GRID_KEYS = dict(droppath='model.backbone.drop_path_rate',
                 stpp='model.distill_loss.amplitude')
METHOD_NAMES = dict(
    baseline='baseline', droppath='stochastic depth', stpp='ST++',
    st='vanilla ST')


@dataclass
class DepthStudy:
    """The design of a study of one CIFAR-style ResNet.

    Attributes:
        stage_blocks: Basic blocks per stage.
        methods: The equal-compute baseline comes with ``stpp`` and
            ``baseline``.
        drop_path_rates, amplitudes: Validation grids of stochastic depth
            and of the ST++ amplitude.
        selection_seeds, seeds: Seeds of the validation and test runs.
        holdout: Last training images held out for validation.
        subnets: Test the full network and N - 1 subnets; default 16 for
            networks of more than 2 blocks per stage, else all.
        jobs, threads, num_workers: Runs at once; torch threads and loader
            workers per run.
        work_dir: Runs go to ``<work_dir>/<net>``.
    """
    stage_blocks: List[int] = field(default_factory=lambda: CONFIG_BLOCKS)
    methods: List[str] = field(
        default_factory=lambda: ['baseline', 'droppath', 'stpp'])
    drop_path_rates: List[str] = field(
        default_factory=lambda: ['0.05', '0.1', '0.2'])
    amplitudes: List[str] = field(
        default_factory=lambda: ['1.0', '2.0', '4.0'])
    selection_seeds: List[int] = field(default_factory=lambda: [0])
    seeds: List[int] = field(default_factory=lambda: [0, 1, 2])
    train_size: int = 10000
    epochs: int = 30
    holdout: int = 10000
    subnets: Optional[int] = None
    recalibration_images: int = 2000
    jobs: int = 1
    threads: int = 1
    num_workers: int = 1
    data_root: str = osp.join(REPO, 'data', 'fashion_mnist')
    work_dir: str = osp.join(REPO, 'work_dirs', 'depth')
    out_json: Optional[str] = None

    def __post_init__(self) -> None:
        if self.subnets is None and max(self.stage_blocks) > 2:
            self.subnets = 16
        self.out_json = self.out_json or osp.join(
            REPO, 'benchmarks', 'results', f'depth_study_{self.net}.json')

    @property
    def depth(self) -> int:
        """Layers of the network, e.g. 14."""
        return 2 * sum(self.stage_blocks) + 2

    @property
    def net(self) -> str:
        """The network's short name, e.g. ``r14``."""
        return f'r{self.depth}'


@dataclass(frozen=True)
class Run:
    """One accuracy-benchmark process: one method, value, seed and split.

    Attributes:
        split: ``'val'`` (held-out training images, full network only) or
            ``'test'`` (the test images, with the subnets).
        value: The value of the method's grid key, as text.
        epochs: The equal-compute baseline's epochs; None: the study's.
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


def config_value(method: str) -> str:
    """The value of a method's grid key in its config, e.g. ``'0.1'``."""
    cfg = Config.fromfile(config_path(method))
    return str(functools.reduce(lambda node, key: node[key],
                                GRID_KEYS[method].split('.'), cfg))


def grid(study: DepthStudy, method: str) -> List[Optional[str]]:
    """The values a method is validated at; ``[None]`` without a grid."""
    return dict(droppath=study.drop_path_rates, stpp=study.amplitudes).get(
        method, [None])


def validation_runs(study: DepthStudy) -> List[Run]:
    """Step 1: every grid value of every method, for the selection seeds."""
    return [Run(method, seed, 'val', value)
            for method in study.methods if method != 'st'
            for value in grid(study, method)
            for seed in study.selection_seeds]


def test_runs(study: DepthStudy, choices: Dict[str, str],
              equal_epochs: Optional[int]) -> List[Run]:
    """Step 3: every method at its choice, and the equal-compute baseline."""
    runs = [Run(method, seed, 'test', choices.get(method))
            for method in study.methods for seed in study.seeds]
    if equal_epochs:
        runs += [Run('baseline', seed, 'test', epochs=equal_epochs)
                 for seed in study.seeds]
    return runs


def net_dir(study: DepthStudy) -> str:
    """The study's folder for this network."""
    return osp.join(study.work_dir, study.net)


def results_path(study: DepthStudy, run: Run) -> str:
    """The results JSON of one run."""
    return osp.join(net_dir(study), 'results', f'{run.name}.json')


def number(text: str):
    """A grid value as the accuracy tool's ``--set`` parses it."""
    try:
        return int(text)
    except ValueError:
        return float(text)


def run_benchmark(study: DepthStudy, run: Run) -> AccuracyBenchmark:
    """The accuracy benchmark of one run (the equal-compute baseline's
    other epochs get their own work dir)."""
    overrides = {} if run.value is None else {
        f'{run.method}:{GRID_KEYS[run.method]}': number(run.value)}
    val = run.split == 'val'
    return AccuracyBenchmark(
        methods=[run.method], seeds=[run.seed], train_size=study.train_size,
        epochs=run.epochs or study.epochs,
        recalibration_images=study.recalibration_images,
        num_workers=study.num_workers, data_root=study.data_root,
        work_dir=net_dir(study) + (
            f'_equal_compute_{run.epochs}ep' if run.epochs else ''),
        out_json=results_path(study, run), overrides=overrides,
        stage_blocks=None if study.stage_blocks == CONFIG_BLOCKS else list(
            study.stage_blocks),
        holdout=study.holdout if val else 0,
        subnets=1 if val else study.subnets)


def command(study: DepthStudy, run: Run) -> List[str]:
    """The accuracy-benchmark command line of a run."""
    return [sys.executable, *command_line(run_benchmark(study, run),
                                          study.threads)]


def finished_run(study: DepthStudy, run: Run) -> Optional[dict]:
    """The results of a run, or None when it has not finished with exactly
    the settings the study asks for."""
    path = results_path(study, run)
    result = load(path)['runs'].get(run.method, {}).get(
        str(run.seed)) if osp.isfile(path) else None
    expected = run_settings(run_benchmark(study, run), run.method)
    return result if is_current(result, expected) else None


@functools.lru_cache(maxsize=None)
def relative_cost(method: str) -> float:
    """The expected compute of a method's iteration over a plain one."""
    return training_cost_ratio(Config.fromfile(config_path(method)))


def job(study: DepthStudy, run: Run) -> Job:
    """The scheduler's job of a run: validation first, longest first."""
    return Job(run.name, tuple(command(study, run)),
               osp.join(net_dir(study), 'logs', f'{run.name}.log'),
               cost=relative_cost(run.method) * (run.epochs or study.epochs),
               stage=0 if run.split == 'val' else 1, cwd=REPO)


def run_study(study: DepthStudy,
              runner: Optional[Callable[[Job], int]] = None) -> None:
    """Run what has not finished, ``study.jobs`` at a time (with
    ``runner``, default :func:`scheduler.launch`), the test runs of a method
    as soon as its validation runs finished.

    Raises:
        RuntimeError: Some runs failed (the others still ran, but none that
            depends on a failed one); the message names their logs.
    """
    def ready() -> List[Job]:
        return [job(study, run) for run in ready_runs(study)
                if finished_run(study, run) is None]

    run_jobs(ready, study.jobs, runner or scheduler.launch,
             functools.partial(print, flush=True))


def choose(top1: Dict[str, List[float]], default: str) -> str:
    """The value (as text) of highest mean validation top-1 over seeds; a
    tie goes to ``default``, the config's value."""
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
    """The median logged training-iteration time of a run (all its resumed
    parts): unlike the total time, robust to passing load on a shared machine.

    Raises:
        ValueError: Nothing was logged in ``work_dir``.
    """
    times = [record['time'] for record in
             logged_train_scalars(work_dir).values()]
    if not times:
        raise ValueError(f'no logged training iteration in {work_dir}')
    return float(np.median(times))


def validation(study: DepthStudy, partial: bool = False) -> Optional[dict]:
    """Step 2 from the validation runs: the grid, choices, equal compute.

    Args:
        partial (bool): Choose for the methods whose validation runs have
            all finished, and name the others in ``'pending'``.

    Returns:
        dict, optional: ``grid``, ``choices``, ``equal_compute_epochs``
        and ``pending``; without ``partial``, None until every validation
        run has finished.
    """
    runs = {run: finished_run(study, run) for run in validation_runs(study)}
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
            study.epochs, [table['stpp'][choices['stpp']]['iteration_s']],
            [table['baseline']['-']['iteration_s']])
    return dict(grid=table, choices=choices, equal_compute_epochs=equal,
                pending=pending)


def ready_runs(study: DepthStudy) -> List[Run]:
    """Every validation run, and the test runs of each method whose
    validation runs have all finished."""
    known = validation(study, partial=True)
    tests = test_runs(study, known['choices'], known['equal_compute_epochs'])
    return validation_runs(study) + [
        run for run in tests if run.method not in known['pending']]


def row_label(run: Run) -> str:
    """A method's row in the report, e.g. ``ST++ (amplitude 2.0)``."""
    name = METHOD_NAMES[run.method]
    if run.epochs:
        return f'{name}, equal compute ({run.epochs} epochs)'
    key = dict(droppath='drop_path_rate', stpp='amplitude').get(run.method)
    return f'{name} ({key} {run.value})' if key else name


def test_table(study: DepthStudy, results: Dict[Run, dict]) -> dict:
    """Per row: the test results of its finished seeds, and paired
    differences to the baseline and the equal-compute baseline."""
    rows: Dict[str, dict] = {}
    for run, result in results.items():
        row = rows.setdefault(row_label(run), dict(
            method=run.method, value=run.value,
            epochs=run.epochs or study.epochs, results={}))
        if result is not None:
            row['results'][str(run.seed)] = result
    for row in rows.values():
        finished = list(row.pop('results').values())
        row['top1_per_seed'] = {str(r['seed']): r['top1'] for r in finished}
        for key in ('top1', 'mean_subnet_top1',
                    'mean_subnet_top1_recalibrated'):
            row[key] = mean_std([r[key] for r in finished])
        row['train_minutes'] = mean_std(
            [r['train_time_s'] / 60 for r in finished])
        row['devices'] = sorted({r['device'] for r in finished})
    references = [label for label, row in rows.items()
                  if row['method'] == 'baseline']
    for label, row in rows.items():
        for reference in references:
            row[f'minus {reference}'] = None if label == reference else (
                paired_difference(row['top1_per_seed'],
                                  rows[reference]['top1_per_seed']))
    return rows


def report(study: DepthStudy) -> dict:
    """The study's report from the runs finished so far."""
    chosen = validation(study)
    runs = test_runs(study, chosen['choices'],
                     chosen['equal_compute_epochs']) if chosen else []
    results = {run: finished_run(study, run) for run in runs}
    rows = test_table(study, results)
    complete = bool(chosen) and all(
        len(row['top1_per_seed']) == len(study.seeds) for row in rows.values())
    test_images = sorted({r['test_images'] for r in results.values() if r})
    return dict(
        depth=study.depth,
        schedule=f'{study.train_size} images x {study.epochs} epochs',
        network=f'ResNet-{study.depth} '
        f'({"-".join(map(str, study.stage_blocks))} basic blocks per stage)',
        design=dict(
            train_images=study.train_size, epochs=study.epochs,
            holdout=study.holdout, seeds=study.seeds,
            selection_seeds=study.selection_seeds, methods=study.methods,
            grids={m: grid(study, m) for m in GRID_KEYS},
            test_subnets=study.subnets or 'all',
            recalibration_images=study.recalibration_images,
            **({'test_images': test_images[0]} if len(test_images) == 1
               else {})),
        complete=complete, validation=chosen, test=rows)


def markdown(data: dict) -> str:
    """The report as markdown: the validation grid, then the test table."""
    design = data['design']
    images = (f'the {design["test_images"]:,} test images'
              if 'test_images' in design else 'the test images')
    lines = [
        f'## {data["network"]}', '',
        f'{design["epochs"]} epochs on the first {design["train_images"]} '
        f'training images. Choices on the last {design["holdout"]} training '
        f'images (validation, seeds {design["selection_seeds"]}); test '
        f'top-1 on {images}, seeds {design["seeds"]}.' +
        ('' if data['complete'] else ' **Not complete: finished runs only.**')
    ]
    chosen = data['validation']
    if not chosen:
        return '\n'.join(lines + ['', 'Validation runs not finished.', ''])
    lines += ['', markdown_table(
        ['method', 'value', 'validation top-1 (%)', 'train time (min)',
         'median s/iter', 'chosen'],
        [[METHOD_NAMES[method], value, format_mean_std(entry),
          f'{entry["train_time_s"] / 60:.1f}', f'{entry["iteration_s"]:.3f}',
          'yes' if entry['chosen'] else '']
         for method, values in chosen['grid'].items()
         for value, entry in values.items()])]
    if chosen['equal_compute_epochs']:
        lines += ['', 'Equal-compute baseline: '
                  f'{chosen["equal_compute_epochs"]} epochs, '
                  f'{design["epochs"]} x the ratio of the median iteration '
                  'times of the chosen ST++ and the baseline validation runs.']
    references = [k[len('minus '):] for k in next(iter(
        data['test'].values()), {}) if k.startswith('minus ')]
    lines += ['', markdown_table(
        ['method', 'seeds', 'top-1 (%)'] +
        [f'minus {r} (pp, paired)' for r in references] +
        ['mean subnet top-1 (%)', 'same, BN re-estimated (%)',
         'train time (min)'],
        [[label, len(row['top1_per_seed']), format_mean_std(row['top1'])] +
         [format_mean_std(row[f'minus {r}']) for r in references] +
         [format_mean_std(row['mean_subnet_top1']),
          format_mean_std(row['mean_subnet_top1_recalibrated']),
          format_mean_std(row['train_minutes'], 1)]
         for label, row in data['test'].items()])]
    return '\n'.join(lines) + '\n'


def write_report(study: DepthStudy) -> str:
    """Write the report's JSON and markdown, and the plot of every report
    in its folder once a test run finished; return the markdown."""
    data = report(study)
    text = markdown(data)
    folder = osp.dirname(osp.abspath(study.out_json))
    os.makedirs(folder, exist_ok=True)
    dump_atomic(data, study.out_json)
    dump_atomic(text, osp.splitext(study.out_json)[0] + '.md')
    gains = gains_by_depth([load(path) for path in sorted(
        glob.glob(osp.join(folder, 'depth_study_r*.json')))])
    if gains:  # a test result to plot
        plot_gains(gains, osp.join(folder, 'depth_study.png'))
    return text


def gains_by_depth(reports: List[dict]) -> Dict[str, List[tuple]]:
    """The reports' paired differences to the baseline and the
    equal-compute baseline, as series against depth.

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
