# Copyright (c) mmstim contributors. All rights reserved.
"""The detection study's report: JSON, markdown tables and a plot."""
import os.path as osp
from dataclasses import asdict

from mmengine.config import Config
from mmengine.fileio import load

from mmstim.analysis.stats import format_mean_std, mean_std, paired_difference
from mmstim.utils.report import dump_atomic, markdown_table
from .detection import (CONFIG_DIR, METRICS, SOURCE_NAMES, SOURCES,
                        DetectionStudy)


def backbone_macs(source: str, side: int = 96) -> int:
    """MACs of a source's detector backbone on one ``side`` x ``side``
    canvas."""
    import torch
    from mmpretrain.registry import MODELS

    from mmstim.analysis.cost import count_macs
    backbone = Config.fromfile(osp.join(CONFIG_DIR,
                                        SOURCES[source].config)).model.backbone
    backbone = dict(backbone, type=backbone.type.split('.')[-1],
                    init_cfg=None)
    model = MODELS.build(backbone)
    model.eval()  # ResNet.train returns None, so not chained
    return sum(count_macs(model, torch.zeros(1, 1, side, side)).values())


def summarise(study: DetectionStudy) -> dict:
    """The study's results so far: the choice, the val mAPs it was made
    on, per source the test metrics (mean ± std over the finished seeds)
    and the mAP difference to the baseline backbone paired by seed, the
    pretrainings' held-out top-1, backbone MACs and times."""
    choice = study.bn_choice()
    validation = {}
    for run in study.runs():
        record = study.finished(run['name'])
        if run['seed'] == study.selection_seed and record:
            validation[run['name']] = record['val']
    tests = {source: {} for source in study.sources}
    times = {source: [] for source in study.sources}
    for run in study.runs():
        record = study.finished(run['name'], test=True)
        if run['test'] and record:
            tests[run['source']][run['seed']] = record['test']
            times[run['source']].append(record.get('seconds_per_iter'))
    baseline_map = {s: m['bbox_mAP'] for s, m in tests['baseline'].items()}
    sources = {}
    for source, per_seed in tests.items():
        sources[source] = dict(
            name=SOURCE_NAMES[source], seeds=sorted(per_seed),
            backbone_macs=backbone_macs(source),
            seconds_per_iter=mean_std([t for t in times[source] if t]),
            **{metric: mean_std([m[metric] for m in per_seed.values()])
               for metric in METRICS},
            map_minus_baseline=paired_difference(
                {s: m['bbox_mAP'] for s, m in per_seed.items()},
                baseline_map))
    pretraining = {}
    for name in study.needed_pretrainings():
        runs = {seed: study.pretrained(name, seed) for seed in study.seeds}
        runs = {s: r for s, r in runs.items() if r}
        pretraining[name] = dict(
            heldout_top1=mean_std([r['top1'] for r in runs.values()]),
            train_minutes=mean_std(
                [r['train_time_s'] / 60 for r in runs.values()]),
            seeds=sorted(runs))
    return dict(design=asdict(study), bn_choice=choice,
                validation_map=validation, sources=sources,
                pretraining=pretraining, dataset=load(osp.join(
                    study.det_root, 'annotations', 'manifest.json')))


def markdown_report(summary: dict) -> str:
    """The summary as markdown tables: the validation runs and the choice,
    the test metrics per backbone source, and the pretrainings."""
    def percent(stats: dict, sign: str = '') -> str:
        if stats.get('mean') is None or (not sign and stats['mean'] < 0):
            return 'n/a'  # CocoMetric's -1: no object of that size
        return format_mean_std(dict(
            stats, mean=100 * stats['mean'],
            std=None if stats.get('std') is None else 100 * stats['std']), 1,
            sign)

    validation = markdown_table(
        ['val run', 'val mAP'],
        [[run, f'{100 * m["bbox_mAP"]:.1f}']
         for run, m in summary['validation_map'].items()])
    test = markdown_table(
        ['backbone', 'seeds', 'backbone MMACs', 'mAP',
         'mAP minus baseline, paired', 'mAP@0.5', 'mAP@0.75', 'mAP small',
         'mAP medium', 'mAP large'],
        [[src['name'], ','.join(map(str, src['seeds'])) or 'none',
          f'{src["backbone_macs"] / 1e6:.1f}', percent(src['bbox_mAP']),
          percent(src['map_minus_baseline'], sign='+'),
          *(percent(src[m]) for m in METRICS[1:])]
         for src in summary['sources'].values()])
    pretraining = markdown_table(
        ['pretraining', 'seeds', 'held-out top-1 (%)', 'training (min)'],
        [[name, ','.join(map(str, pre['seeds'])),
          format_mean_std(pre['heldout_top1']),
          format_mean_std(pre['train_minutes'], 1)]
         for name, pre in summary['pretraining'].items()])
    choice = summary['bn_choice'] or 'not yet chosen'
    return (f'BN setting of the pretrained backbones, chosen on val: '
            f'**{choice}**\n\n{validation}\n\nTest canvases:\n\n{test}\n\n'
            f'{pretraining}\n')


def plot_map_against_macs(summary: dict, path: str) -> None:
    """Test mAP (mean ± std) against backbone MACs, one point per source;
    a line joins each pretraining's ResNet-14 to its 1-1-1 subnet."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    sources = summary['sources']
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, src in sources.items():
        if src['bbox_mAP']['mean'] is None:
            continue
        ax.errorbar(src['backbone_macs'] / 1e6, 100 * src['bbox_mAP']['mean'],
                    yerr=100 * (src['bbox_mAP']['std'] or 0), fmt='o',
                    capsize=3, label=src['name'])
    for full in ('baseline', 'stpp'):
        pair = [sources.get(full), sources.get(f'{full}_111')]
        if all(p and p['bbox_mAP']['mean'] is not None for p in pair):
            ax.plot([p['backbone_macs'] / 1e6 for p in pair],
                    [100 * p['bbox_mAP']['mean'] for p in pair], ':',
                    color='grey')
    ax.set_xlabel('backbone MMACs per 96 x 96 canvas')
    ax.set_ylabel('test mAP (%)')
    ax.set_title('RetinaNet on Fashion-MNIST canvases')
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_report(study: DetectionStudy, out_json: str) -> dict:
    """Write the summary as JSON, markdown (same name, ``.md``) and a plot
    (``.png``); return it."""
    summary = summarise(study)
    dump_atomic(summary, out_json)
    base = osp.splitext(out_json)[0]
    dump_atomic(markdown_report(summary), base + '.md')
    plot_map_against_macs(summary, base + '.png')
    return summary
