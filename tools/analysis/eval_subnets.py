# Copyright (c) mmstim contributors. All rights reserved.
"""Accuracy of every subnet of a sampling rule, for one or more checkpoints.

    python tools/analysis/eval_subnets.py
        --runs CONFIG:CHECKPOINT[:LABEL] [CONFIG:CHECKPOINT[:LABEL] ...]
        [--config CONFIG --checkpoints CKPT [CKPT ...]]
        [--rule default|paper|'[[1,2],[1,2],[2]]'] [--max-subnets N]
        [--seed 0] [--recalibration-images 2000] [--split val|test]
        [--data-root DIR] [--num-workers N] [--threads N]
        [--cfg-options KEY=VALUE ...]
        [--out-json subnets.json] [--out-png subnets.png]
        [--x depth|macs|flops]

Every subnet (kept depths per stage) of the rule is evaluated, or
``--max-subnets`` of them drawn at random (the full network always
included), without and with BN recalibration on training images. The rule
defaults to the one of the config's ``SubnetSamplingHook``, or
``'default'`` for configs without one (plain ``ImageClassifier``
baselines). Checkpoints are loaded with ``torch.load(weights_only=True)``.
"""
import argparse
import json
import os.path as osp
import sys
from typing import List, Optional

from mmengine.config import Config

import mmstim  # noqa: F401  (registers the components)
from mmstim.analysis import (RunSpec, annotate_macs, data_root_options,
                             input_shape, load_run, mean_subnet_accuracy,
                             parse_run_spec, subnet_accuracies,
                             subnets_of_rule)
from mmstim.analysis.cli import (add_data_and_output_args, apply_threads,
                                 save_figure, write_results)
from mmstim.analysis.cost import block_macs
from mmstim.models.subnets import SubnetSampler, find_residual_stages

X_AXES = {
    'depth': ('kept blocks', lambda e: e['kept_blocks']),
    'macs': ('MMACs per image', lambda e: e['macs'] / 1e6),
    'flops': ('MFLOPs per image (2 x MACs)', lambda e: 2 * e['macs'] / 1e6),
}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        '--runs', nargs='+', default=[], metavar='CONFIG:CKPT[:LABEL]',
        help='checkpoints to evaluate, each with its config')
    parser.add_argument(
        '--config', help='config shared by the files of --checkpoints')
    parser.add_argument(
        '--checkpoints', nargs='+', default=[],
        help='checkpoints of --config')
    parser.add_argument(
        '--rule', default=None,
        help="sampling rule: 'default', 'paper' or a JSON list of allowed "
        "depths per stage; defaults to the config's SubnetSamplingHook "
        "rule, else 'default'")
    parser.add_argument(
        '--max-subnets', type=int, default=None,
        help='evaluate at most this many subnets, drawn at random')
    parser.add_argument(
        '--seed', type=int, default=0,
        help='seed of the subnet choice and of the recalibration images')
    parser.add_argument(
        '--recalibration-images', type=int, default=2000,
        help='training images for the BN recalibration of each subnet '
        '(0: none)')
    add_data_and_output_args(parser, 'eval_subnets')
    parser.add_argument('--x', choices=tuple(X_AXES), default='depth')
    return parser.parse_args(argv)


def run_specs(args: argparse.Namespace) -> List[RunSpec]:
    """The runs named by ``--runs`` and ``--config``/``--checkpoints``."""
    specs = [parse_run_spec(text) for text in args.runs]
    if args.checkpoints and not args.config:
        raise ValueError('--checkpoints needs --config.')
    for checkpoint in args.checkpoints:
        stem = osp.splitext(osp.basename(checkpoint))[0]
        parent = osp.basename(osp.dirname(osp.abspath(checkpoint)))
        specs.append(RunSpec(args.config, checkpoint, f'{parent}/{stem}'))
    if not specs:
        raise ValueError('Name at least one run (--runs CONFIG:CHECKPOINT, '
                         'or --config CONFIG --checkpoints CKPT ...).')
    return specs


def parse_rule(text: Optional[str], cfg: Config):
    """The sampling rule from ``--rule`` or from the config's hook."""
    if text is None:
        for hook in cfg.get('custom_hooks', []) or []:
            if hook.get('type') == 'SubnetSamplingHook':
                return hook.get('rule', 'default')
        return 'default'
    text = text.strip()
    if text.startswith('['):
        return json.loads(text)
    return text


def cfg_options_of(args: argparse.Namespace) -> dict:
    """Overrides of every run's config."""
    options = dict(args.cfg_options or {})
    if args.data_root:
        options.update(data_root_options(args.data_root))
    return options


def evaluate_run(spec: RunSpec, args: argparse.Namespace) -> dict:
    """Evaluate the subnets of one checkpoint."""
    run = load_run(spec, cfg_options_of(args), args.split, args.num_workers,
                   args.recalibration_images > 0, args.seed)
    rule = parse_rule(args.rule, run.cfg)
    sampler = SubnetSampler(find_residual_stages(run.model.backbone), rule)
    specs = subnets_of_rule(sampler, args.max_subnets, args.seed)
    results = subnet_accuracies(
        run.model, specs, run.val_loader, run.train_loader,
        args.recalibration_images, progress=True, desc=spec.label)
    channels, side = input_shape(run.model, run.val_loader)[:2]
    parts = block_macs(run.model, side, channels)
    annotate_macs(results, parts)
    full = next(r for r in results if r['full'])
    return dict(
        label=spec.label,
        config=spec.config,
        checkpoint=spec.checkpoint,
        model=type(run.model).__name__,
        rule=rule,
        num_subnets_in_space=sampler.num_subnets_in_space(),
        num_evaluated=len(results),
        input_shape=[channels, side, side],
        full_macs=full['macs'],
        full_top1=full['top1'],
        mean_subnet_top1=mean_subnet_accuracy(results),
        mean_subnet_top1_recalibrated=mean_subnet_accuracy(
            results, 'top1_recalibrated'),
        subnets=results)


def plot(runs: List[dict], path: str, x: str = 'depth') -> None:
    """Accuracy against kept depth or compute, one series per checkpoint.

    Filled circles are plain accuracies, open squares those after BN
    recalibration; a line joins the mean accuracy at each x; a star marks
    the full network.
    """
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    label, value = X_AXES[x]
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    for index, run in enumerate(runs):
        color = f'C{index % 10}'
        entries = run['subnets']
        xs = [value(e) for e in entries]
        for key, marker, face, suffix in (
                ('top1', 'o', color, ''),
                ('top1_recalibrated', 's', 'none', ', BN recalibrated')):
            if key not in entries[0]:
                continue
            ys = [e[key] for e in entries]
            ax.scatter(xs, ys, marker=marker, facecolors=face,
                       edgecolors=color, s=28, label=run['label'] + suffix)
            means = _means_per_x(xs, ys)
            ax.plot(list(means), list(means.values()), color=color,
                    linestyle='-' if key == 'top1' else '--', linewidth=1)
        full = next(e for e in entries if e['full'])
        ax.scatter([value(full)], [full['top1']], marker='*', s=220,
                   color=color, edgecolors='black', zorder=3)
    ax.scatter([], [], marker='*', s=120, color='white', edgecolors='black',
               label='full network')
    if x == 'depth':
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel(label)
    ax.set_ylabel('top-1 accuracy (%)')
    ax.set_title('Subnet accuracy')
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    save_figure(fig, path)


def _means_per_x(xs: List[float], ys: List[float]) -> dict:
    groups = {}
    for x, y in zip(xs, ys):
        groups.setdefault(x, []).append(y)
    return {x: sum(v) / len(v) for x, v in sorted(groups.items())}


def print_table(runs: List[dict]) -> None:
    """Print a markdown table of every evaluated subnet."""
    print('| run | depths | kept blocks | MMACs | top-1 (%) | '
          'top-1, BN recalibrated (%) |')
    print('|---|---|---|---|---|---|')
    for run in runs:
        for e in run['subnets']:
            name = '-'.join(map(str, e['depths']))
            if e['full']:
                name += ' (full)'
            recal = e.get('top1_recalibrated')
            recal = f'{recal:.2f}' if recal is not None else '-'
            print(f'| {run["label"]} | {name} | {e["kept_blocks"]} | '
                  f'{e["macs"] / 1e6:.2f} | {e["top1"]:.2f} | {recal} |')


def main(argv=None) -> int:
    args = parse_args(argv)
    apply_threads(args)
    try:
        specs = run_specs(args)
    except ValueError as error:
        print(f'error: {error}', file=sys.stderr)
        return 2
    for spec in specs:
        if not osp.isfile(spec.checkpoint):
            print(f'error: checkpoint {spec.checkpoint} does not exist.',
                  file=sys.stderr)
            return 2
    runs = [evaluate_run(spec, args) for spec in specs]
    print_table(runs)
    settings = dict(
        rule=args.rule, max_subnets=args.max_subnets, seed=args.seed,
        recalibration_images=args.recalibration_images, split=args.split,
        data_root=args.data_root)
    write_results(args.out_json, settings, runs)
    plot(runs, args.out_png, args.x)
    print(f'wrote {args.out_json} and {args.out_png}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
