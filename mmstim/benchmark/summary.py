# Copyright (c) mmstim contributors. All rights reserved.
"""The accuracy benchmark's summary: mean ± std over seeds, paired
differences to the baseline, and the markdown report."""
import json
import os.path as osp
from typing import Dict, List

import numpy as np
from mmengine.config import Config

from mmstim.analysis.stats import format_mean_std, mean_std
from mmstim.utils.report import dump_atomic, markdown_table
from .accuracy import (REPO, RULE, AccuracyBenchmark, config_path,
                       evaluation_split, is_current, method_overrides, recipe,
                       run_settings)


def mean_std_of(key: str, values: List[float]) -> dict:
    """``<key>_mean`` and ``<key>_std`` of :func:`mean_std`."""
    stats = mean_std(values)
    return {f'{key}_mean': stats['mean'], f'{key}_std': stats['std']}


def method_summary(runs: Dict[int, dict], seeds: List[int],
                   baseline: Dict[int, dict]) -> dict:
    """One method's runs of ``seeds``: means, stds and times."""
    chosen = [runs[s] for s in seeds]
    times: Dict[str, list] = {}
    for run in chosen:
        times.setdefault(run.get('device', 'unknown'),
                         []).append(run['train_time_s'])
    # Runs of one seed share the initial weights and the data order.
    paired = [runs[s]['top1'] - baseline[s]['top1'] for s in seeds
              ] if baseline and runs is not baseline else []
    values = {k: [r[k] for r in chosen if r[k] is not None]
              for k in ('top1', 'mean_subnet_top1', 'train_time_s',
                        'mean_subnet_top1_recalibrated', 'wall_time_s')}

    def mean(key):
        return float(np.mean(values[key])) if chosen else None

    return dict(
        seeds=seeds, **mean_std_of('top1', values['top1']),
        top1_per_seed={str(s): runs[s]['top1'] for s in seeds},
        **mean_std_of('mean_subnet_top1', values['mean_subnet_top1']),
        **mean_std_of('mean_subnet_top1_recalibrated',
                      values['mean_subnet_top1_recalibrated']),
        train_size=chosen[0]['train_images'] if chosen else None,
        test_size=chosen[0]['test_images'] if chosen else None,
        train_time_s_per_run=mean('train_time_s'),
        wall_time_s_per_run=mean('wall_time_s'),
        wall_time_s_total=float(sum(values['wall_time_s'])),
        devices=sorted(times),
        train_time_s_per_run_by_device={
            d: float(np.mean(t)) for d, t in sorted(times.items())},
        **mean_std_of('top1_minus_baseline', paired),
        recipe=chosen[0]['recipe'] if chosen else None)


def summarize(data: dict, bench: AccuracyBenchmark) -> dict:
    """Per method: mean ± std over the seeds finished for every method."""
    finished = {
        m: {int(s): r for s, r in data['runs'].get(m, {}).items()
            if is_current(r, run_settings(bench, m))} for m in bench.methods}
    common = sorted(set.intersection(*map(set, finished.values())))
    methods = {}
    for method, runs in finished.items():
        summary = method_summary(runs, common, finished.get('baseline'))
        recipe_ = summary.pop('recipe')
        methods[method] = dict(
            config=osp.relpath(config_path(method), REPO), **summary,
            epochs=bench.epochs,
            overrides=method_overrides(bench.overrides, method),
            recipe=recipe_)
    excluded = sorted(f'{m} seed {s}' for m, runs in finished.items()
                      for s in runs if s not in common)
    return dict(seeds_common_to_all_methods=common, num_seeds=len(common),
                excluded_runs=excluded,
                evaluated_split=evaluation_split(bench.holdout),
                methods=methods)


def amplitude_note(overrides: dict) -> str:
    """How the ST++ KL- amplitude relates to the published 1.0."""
    key = 'model.distill_loss.amplitude'
    chosen = method_overrides(overrides, 'stpp')
    if key in chosen:
        return f'the ST++ KL- amplitude is {chosen[key]} (set by --set)'
    amplitude = float(Config.fromfile(
        config_path('stpp')).model.distill_loss.get('amplitude', 1.0))
    return ('the ST++ KL- amplitude is the published 1.0 (untuned)'
            if amplitude == 1.0 else f'the ST++ KL- amplitude is '
            f'{amplitude}, which differs from the published 1.0')


def overrides_text(bench: AccuracyBenchmark) -> str:
    """The overrides per method, e.g. ``stpp: a.b=1``."""
    return '; '.join(
        f'{method}: ' + ', '.join(f'{k}={json.dumps(v)}'
                                  for k, v in overrides.items())
        for method in bench.methods
        for overrides in [method_overrides(bench.overrides, method)]
        if overrides)


def recipe_text() -> Dict[str, str]:
    """``shared_recipe`` and ``methods``: the configs' shared training
    recipe and the methods' settings, in words."""
    cfg = Config.fromfile(config_path('baseline'))
    optimizer = dict(cfg.optim_wrapper.optimizer)
    kind = optimizer.pop('type')
    pipeline = ', '.join(
        step['type'] for step in cfg.train_dataloader.dataset.pipeline
        if step['type'] != 'PackInputs')
    schedulers = cfg.param_scheduler
    schedulers = schedulers if isinstance(schedulers, list) else [schedulers]
    stpp, st, droppath = (recipe(Config.fromfile(config_path(m)))
                          for m in ('stpp', 'st', 'droppath'))
    return dict(
        shared_recipe='All methods train with one recipe, that of '
        f'{osp.basename(config_path("baseline"))}: {kind} '
        f'{json.dumps(optimizer)} for batch '
        f'{cfg.train_dataloader.batch_size}, learning-rate schedule '
        f'{", ".join(s["type"] for s in schedulers)}, training transforms '
        f'{pipeline}, fixed before any run; epochs and training subset are '
        'the same compute budget for every method.',
        methods='Method hyperparameters are published values or library '
        'defaults, not tuned: ST++ KL- loss '
        f'{json.dumps(stpp["distill_loss"])}, subnet sampling '
        f'{json.dumps(stpp["subnet_sampling"])}, subnet '
        f'resize {json.dumps(stpp["subnet_resize"])}; ST: '
        f'{json.dumps(st["distill_loss"])}, '
        f'{json.dumps(st["subnet_sampling"])}; stochastic depth: '
        f'drop_path_rate {droppath["drop_path_rate"]}. The exact values are '
        "in each method's recipe field")


def tuning_note(bench: AccuracyBenchmark) -> dict:
    """What was tuned, and how (the ``tuning`` field of the JSON)."""
    overrides = {m: method_overrides(bench.overrides, m)
                 for m in bench.methods}
    held_out = ('These runs are evaluated on a validation split, the last '
                f'{bench.holdout} training images, none of which is trained '
                'on; the test images are not used.')
    text = recipe_text()
    return dict(
        tuned=f'config overrides (--set): {overrides_text(bench)}'
        if bench.overrides else 'nothing',
        evaluated_split=evaluation_split(bench.holdout),
        overrides=overrides,
        test_set=held_out if bench.holdout else
        'The test images are used only for the reported numbers: '
        'no hyperparameter, epoch or checkpoint was chosen on them (the last '
        'epoch is reported; there is no early stopping).',
        shared_recipe=text['shared_recipe'],
        methods=f'{text["methods"]}' +
        (', with the overrides above.' if bench.overrides else '.') +
        f' Of these, {amplitude_note({})}.',
        compared_methods=list(bench.methods))


def network_name(stage_blocks) -> str:
    """The trained network in words, e.g. 'ResNet-14 (2-2-2 basic blocks)'."""
    blocks = stage_blocks or [2, 2, 2]
    return (f'ResNet-{2 * sum(blocks) + 2} '
            f'({"-".join(map(str, blocks))} basic blocks per stage)')


def subnets_text(bench: AccuracyBenchmark) -> str:
    """Which subnets were evaluated, in a sentence."""
    if bench.subnets == 1:
        return 'Subnets: none (the full network only).'
    most = max(bench.stage_blocks or [2])
    if most == 1:
        return 'Subnets: none (one block per stage).'
    which = (f'{bench.subnets - 1} proper subnets, drawn with the seed,'
             if bench.subnets else 'the proper subnets')
    return (f'Subnets: {which} of the {RULE!r} rule (1 '
            f'{"or" if most == 2 else "to"} {most} blocks per stage), without '
            f'and with BN recalibration on {bench.recalibration_images} '
            'training images.')


def stat(method: dict, key: str, sign: str = '') -> str:
    """``mean ± std`` of a key of a method's summary."""
    return format_mean_std(dict(mean=method[f'{key}_mean'],
                                std=method[f'{key}_std']), sign=sign)


def markdown(summary: dict, bench: AccuracyBenchmark) -> str:
    """The summary as markdown: accuracies, then training times."""
    seeds, methods = summary['seeds_common_to_all_methods'], summary['methods']
    devices = sorted({d for m in methods.values() for d in m['devices']})
    accuracies = [[method, f'`{osp.basename(m["config"])}`',
                   stat(m, 'top1'), stat(m, 'top1_minus_baseline', '+'),
                   stat(m, 'mean_subnet_top1'),
                   stat(m, 'mean_subnet_top1_recalibrated')]
                  for method, m in methods.items()]
    times = [[method] + [
        format_mean_std(dict(mean=by_device[d] / 60), 1)
        if d in by_device else 'n/a' for d in devices]
        for method, m in methods.items()
        for by_device in [m['train_time_s_per_run_by_device']]]
    epochs, first = bench.epochs, next(iter(methods.values()))
    evaluated = (f'{first["test_size"]} validation images (the last '
                 f'{bench.holdout} training images, not trained on)'
                 if bench.holdout else f'{first["test_size"]} test images')
    lines = [
        '## Fashion-MNIST accuracy benchmark' +
        (' (validation split)' if bench.holdout else ''), '',
        f'{network_name(bench.stage_blocks)}, {epochs} '
        f'epoch{"s" if epochs != 1 else ""} on {first["train_size"]} '
        f'training images, top-1 on {evaluated}. Mean ± '
        f'std over the {len(seeds)} seed(s) finished for every method '
        f'({", ".join(map(str, seeds)) or "none"}). {subnets_text(bench)} '
        f'Trained on: {"; ".join(devices) or "n/a"}.', '',
        markdown_table([
            'method', 'config', 'top-1, full network (%)',
            'top-1 minus baseline, paired by seed (pp)',
            'mean subnet top-1 (%)', 'mean subnet top-1, BN recalibrated (%)'
        ], accuracies), '',
        'Training time per run (min), by the device it trained on:', '',
        markdown_table(['method'] + devices, times)
    ]
    if summary['excluded_runs']:
        lines += ['', 'Left out (not finished for every method): '
                  f'{", ".join(summary["excluded_runs"])}.']
    if bench.overrides:
        lines += ['', f'Config overrides (`--set`): {overrides_text(bench)}.']
    split = ('The test images were not used' if bench.holdout else
             'Nothing was tuned on the test set')
    return '\n'.join(lines + [
        '', f'{split}; {amplitude_note(bench.overrides)}. Details: the '
        '`tuning` field of the JSON.', ''])


def save(data: dict, bench: AccuracyBenchmark) -> str:
    """Summarise ``data`` into the results JSON and markdown; the table."""
    data.update(summarize(data, bench), tuning=tuning_note(bench))
    dump_atomic(data, bench.out_json)
    text = markdown(data, bench)
    dump_atomic(text, bench.out_md)
    return text
