# Copyright (c) mmstim contributors. All rights reserved.
"""Is a subnet as good as the same architecture trained on its own?"""
import os.path as osp
from typing import Dict, Sequence

from mmengine.config import Config
from mmpretrain.registry import MODELS

from mmstim.analysis.cost import (block_macs, input_shape, subnet_macs,
                                  training_cost_ratio)
from mmstim.analysis.stats import format_mean_std, mean_std
from mmstim.models.subnets import find_residual_stages, to_mask
from mmstim.utils.report import markdown_table
from .accuracy import REPO


def combine(results: Sequence[dict]) -> dict:
    """The runs of several accuracy-benchmark results, per method; a method
    run with ``--set`` overrides is named with them, e.g.
    ``'st (num_subnets=2, rule=sandwich)'``.

    Raises:
        ValueError: When two files hold the same method with the same
            overrides.
    """
    runs = {}
    for result in results:
        for method, method_runs in result['runs'].items():
            overrides = next(iter(method_runs.values()))['settings'].get(
                'overrides') or {}
            label = method if not overrides else method + ' (' + ', '.join(
                f'{key.split(".")[-1]}={value}'
                for key, value in sorted(overrides.items())) + ')'
            if label in runs:
                raise ValueError(f'{label} is in two --subnets-json files')
            runs[label] = method_runs
    return dict(runs=runs)


def compute_units(subnets: dict, depths: Sequence[Sequence[int]]) -> dict:
    """Training compute per run, in plain runs of the benchmark's network:
    the MAC ratio of each architecture (kept blocks per stage) trained
    alone, and each method's expected cost ratio, from the config and the
    ``--set`` overrides its runs recorded.

    Args:
        subnets (dict): The accuracy benchmark's results.
        depths (list[list[int]]): The architectures trained alone.
    """
    configs = {}
    for method, runs in subnets['runs'].items():
        run = next(iter(runs.values()))
        cfg = Config.fromfile(osp.join(REPO, run['config']))
        cfg.merge_from_dict(run['settings'].get('overrides') or {},
                            allow_list_keys=True)
        configs[method] = cfg
    network = next(iter(configs.values()))  # every method's is the same
    model = MODELS.build(network.model)
    channels, side = input_shape(network)
    parts = block_macs(model, side, channels)
    stages = find_residual_stages(model.backbone)
    full = subnet_macs(parts, to_mask(stages, [len(s) for s in stages]))
    units = {'-'.join(map(str, d)): subnet_macs(parts, to_mask(stages, d)) /
             full for d in depths}
    units.update({method: training_cost_ratio(cfg)
                  for method, cfg in configs.items()})
    return units


def compare(subnets: dict, alone: Dict[str, dict],
            units: Dict[str, float]) -> dict:
    """Per architecture: the trained-alone network and the same subnet of
    each method's full network, over the seeds common to all.

    Args:
        subnets (dict): The accuracy benchmark's results.
        alone (dict): Per architecture name (``'1-1-1'``), its results.
        units (dict): Output of :func:`compute_units`.
    """
    methods = sorted(subnets['runs'])
    seed_sets = [set(subnets['runs'][m]) for m in methods] + [
        set(a['runs']['baseline']) for a in alone.values()]
    seeds = sorted(set.intersection(*seed_sets), key=int)
    if not seeds:
        raise ValueError('no seed is finished in every results file.')
    table = {}
    for name, results in alone.items():
        runs = [results['runs']['baseline'][s] for s in seeds]
        row = dict(alone=dict(
            top1=mean_std([r['top1'] for r in runs]),
            top1_recalibrated=mean_std(
                [r['subnets'][0]['top1_recalibrated'] for r in runs]),
            train_minutes=mean_std([r['train_time_s'] / 60 for r in runs]),
            compute=units[name]))
        depths = [int(n) for n in name.split('-')]
        for method in methods:
            entries = [next(e for e in subnets['runs'][method][s]['subnets']
                            if e['depths'] == depths) for s in seeds]
            row[method] = {key: mean_std([e[key] for e in entries])
                           for key in ('top1', 'top1_recalibrated')}
        table[name] = row
    train = {m: mean_std([subnets['runs'][m][s]['train_time_s'] / 60
                          for s in seeds]) for m in methods}
    images = {run.get('test_images') for m in methods
              for run in subnets['runs'][m].values()} - {None}
    return dict(seeds=[int(s) for s in seeds], architectures=table,
                full_runs=dict(train_minutes=train, compute={
                    m: units[m] for m in methods}),
                **({'test_images': images.pop()} if len(images) == 1
                   else {}))


def markdown(result: dict) -> str:
    """The comparison as a markdown table and a cost table."""
    methods = list(result['full_runs']['compute'])
    rows = result['architectures']
    accuracy = markdown_table(
        ['architecture', 'trained alone', 'trained alone, BN re-est.'] +
        [f'subnet of {m}, exported (BN re-est.)' for m in methods],
        [[name, format_mean_std(row['alone']['top1']),
          format_mean_std(row['alone']['top1_recalibrated'])] +
         [format_mean_std(row[m]['top1_recalibrated']) for m in methods]
         for name, row in rows.items()])
    costs = markdown_table(
        ['run', 'compute (plain ResNet-14 runs)',
         'train time (min, as measured)'],
        [[f'{name} alone', f'{row["alone"]["compute"]:.2f}',
          format_mean_std(row['alone']['train_minutes'])]
         for name, row in rows.items()] +
        [[f'ResNet-14 {m} (one run for every subnet)',
          f'{result["full_runs"]["compute"][m]:.2f}',
          format_mean_std(result['full_runs']['train_minutes'][m])]
         for m in methods])
    images = (f'the {result["test_images"]:,} Fashion-MNIST test images'
              if 'test_images' in result else 'the Fashion-MNIST test images')
    seeds = ', '.join(map(str, result['seeds']))
    return '\n'.join([
        f'Top-1 (%) on {images}, mean ± std over seeds {seeds}.', '',
        accuracy, '', costs, '',
        'Compute: training MACs relative to one plain ResNet-14 run '
        'on the same images and epochs (a network trained alone: its '
        'MACs per image; ST and ST++: the expected cost of their '
        'iteration; stochastic depth is counted as 1.00, an upper '
        'bound). Train times are as measured, on machines shared with '
        'other runs.', ''])
