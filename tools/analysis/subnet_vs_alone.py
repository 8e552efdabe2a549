# Copyright (c) mmstim contributors. All rights reserved.
"""Is a subnet as good as the same architecture trained on its own?

    python tools/analysis/subnet_vs_alone.py
        --subnets-json benchmarks/results/fashion_mnist.json
        --alone-json ALONE_111.json [ALONE_221.json ...]
        [--out-json OUT.json] [--out-md OUT.md]

``--subnets-json`` is the accuracy benchmark of the full ResNet-14 runs
(``tools/benchmark/accuracy.py``): per method and seed, every subnet's
top-1 with BN re-estimated on training images, which is what the network
exported by ``export_subnet.py`` with the same ``--recalibration-images``
and ``--seed`` computes. Each ``--alone-json`` is the same benchmark run
with ``--stage-blocks`` (the subnet's architecture trained from scratch
with the baseline recipe, the same epochs, images and seeds). The table
gives mean ± std over the seeds common to all runs, and the training
compute of each route in units of one plain ResNet-14 run (MACs per image
of the trained networks; ST and ST++ by their expected cost ratio).
"""
import argparse
import os.path as osp
import sys
from typing import Dict, List, Optional, Sequence

from mmengine.config import Config
from mmengine.fileio import dump, load
from mmpretrain.registry import MODELS

import mmstim  # noqa: F401  (registers the components)
from mmstim.analysis.cost import block_macs, expected_cost_ratio, subnet_macs
from mmstim.analysis.stats import format_mean_std, mean_std
from mmstim.engine import build_subnet_sampler
from mmstim.models.subnets import find_residual_stages, to_mask

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SIDE, CHANNELS = 28, 1  # Fashion-MNIST images


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        '--subnets-json',
        default=osp.join(REPO, 'benchmarks', 'results', 'fashion_mnist.json'))
    parser.add_argument('--alone-json', nargs='+', required=True)
    parser.add_argument(
        '--out-json', default=osp.join(REPO, 'benchmarks', 'results',
                                       'subnet_vs_alone_fashion_mnist.json'))
    parser.add_argument('--out-md', help='default: --out-json with .md')
    args = parser.parse_args(argv)
    args.out_md = args.out_md or osp.splitext(args.out_json)[0] + '.md'
    return args


def compute_units(config: str, depths: Sequence[Sequence[int]]) -> dict:
    """Training compute per run, in units of one plain run of the config's
    network: the MAC ratio of each architecture trained alone, and the
    expected ST cost ratio of each method's config.

    Args:
        config (str): The plain (baseline) config of the full network.
        depths (Sequence[Sequence[int]]): Kept blocks per stage of the
            architectures trained alone.
    """
    cfg = Config.fromfile(config)
    model = MODELS.build(cfg.model)
    parts = block_macs(model, SIDE, CHANNELS)
    stages = find_residual_stages(model.backbone)
    full = subnet_macs(parts, to_mask(stages, [len(s) for s in stages]))
    units = {'-'.join(map(str, d)): subnet_macs(parts, to_mask(stages, d)) /
             full for d in depths}
    for method in ('st', 'stpp'):
        path = osp.join(osp.dirname(config),
                        f'resnet14_{method}_fashion-mnist.py')
        method_cfg = Config.fromfile(path)
        stim = MODELS.build(method_cfg.model)
        sampler = build_subnet_sampler(method_cfg, stim)
        units[method] = expected_cost_ratio(
            stim, sampler, sampler.num_subnets, SIDE, stim.subnet_resize,
            CHANNELS)['ratio']
    return units


def compare(subnets: dict, alone: Dict[str, dict],
            units: Dict[str, float]) -> dict:
    """Per architecture: the trained-alone network and the same subnet of
    each method's full network, over the seeds common to all.

    Args:
        subnets (dict): The accuracy benchmark's results (``runs``).
        alone (dict): Per architecture name (``'1-1-1'``), its results.
        units (dict): Output of :func:`compute_units`.

    Returns:
        dict: ``seeds`` and, per architecture, ``alone`` and per method
        ``top1`` and ``top1_recalibrated`` (mean, std, n).
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
    return dict(seeds=[int(s) for s in seeds], architectures=table,
                full_runs=dict(train_minutes=train, compute={
                    m: units.get(m, 1.0) for m in methods}))


def markdown(result: dict) -> str:
    """The comparison as a markdown table and a cost table."""
    methods = list(result['full_runs']['compute'])
    header = ['architecture', 'trained alone', 'trained alone, BN re-est.'
              ] + [f'subnet of {m}, exported (BN re-est.)' for m in methods]
    lines = ['| ' + ' | '.join(header) + ' |', '|---' * len(header) + '|']
    for name, row in result['architectures'].items():
        lines.append('| ' + ' | '.join(
            [name, format_mean_std(row['alone']['top1']),
             format_mean_std(row['alone']['top1_recalibrated'])] +
            [format_mean_std(row[m]['top1_recalibrated'])
             for m in methods]) + ' |')
    lines += ['', '| run | compute (plain ResNet-14 runs) | train time '
              '(min, as measured) |', '|---|---|---|']
    for name, row in result['architectures'].items():
        lines.append(f'| {name} alone | {row["alone"]["compute"]:.2f} | '
                     f'{format_mean_std(row["alone"]["train_minutes"])} |')
    for method in methods:
        minutes = result['full_runs']['train_minutes'][method]
        lines.append(
            f'| ResNet-14 {method} (one run for every subnet) | '
            f'{result["full_runs"]["compute"][method]:.2f} | '
            f'{format_mean_std(minutes)} |')
    seeds = ', '.join(map(str, result['seeds']))
    return '\n'.join([
        f'Top-1 (%) on the 10,000 Fashion-MNIST test images, mean ± std over '
        f'seeds {seeds}.', ''] + lines + [
            '', 'Compute: training MACs relative to one plain ResNet-14 run '
            'on the same images and epochs (a network trained alone: its '
            'MACs per image; ST and ST++: the expected cost of their '
            'iteration; stochastic depth is counted as 1.00, an upper '
            'bound). Train times are as measured, on machines shared with '
            'other runs.', ''])


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    try:
        subnets = load(args.subnets_json)
        alone = {}
        for path in args.alone_json:
            results = load(path)
            blocks = results['runs']['baseline']
            first = next(iter(blocks.values()))
            alone['-'.join(map(str, first['settings']['stage_blocks']))] = (
                results)
        config = osp.join(REPO, subnets['methods']['baseline']['config'])
        units = compute_units(
            config, [[int(n) for n in name.split('-')] for name in alone])
        result = compare(subnets, alone, units)
    except (OSError, KeyError, ValueError) as error:
        print(f'error: {error}', file=sys.stderr)
        return 2
    text = markdown(result)
    print(text)
    dump(result, args.out_json, indent=2)
    with open(args.out_md, 'w') as f:
        f.write(text)
    print(f'wrote {args.out_json} and {args.out_md}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
