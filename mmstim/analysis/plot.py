# Copyright (c) mmstim contributors. All rights reserved.
"""The subnet plot: accuracy against kept blocks or a cost, per checkpoint."""
from typing import Callable, Dict, List, Optional, Sequence, Tuple

Value = Callable[[dict], float]

#: x axes of the plot: label, value of a result, cost axis of its Pareto
#: flags (None: not a cost, no front).
X_AXES = {
    'depth': ('kept blocks', lambda e: e['kept_blocks'], None),
    'params': ('parameters (millions)', lambda e: e['params'] / 1e6,
               'params'),
    'macs': ('MMACs per image', lambda e: e['macs'] / 1e6, 'macs'),
    'flops': ('MFLOPs per image (2 x MACs)', lambda e: 2 * e['macs'] / 1e6,
              'macs'),
}
#: The accuracies plotted: key, marker, face colour (None: the series'),
#: line style and legend suffix.
SERIES = (('top1', 'o', None, '-', ''),
          ('top1_recalibrated', 's', 'none', '--', ', BN recal.'))


def x_axis(x: str, entry: dict) -> Tuple[str, Value, Optional[str]]:
    """Label, value and Pareto cost axis of the plot's x, see X_AXES."""
    if x != 'latency':
        return X_AXES[x]
    batch = entry['latency'][0]['batch_size']
    return (f'median latency at batch {batch} (ms)',
            lambda e: 1e3 * e['latency'][0]['median_s'], f'latency_b{batch}')


def plot_subnets(runs: Sequence[dict], x: str = 'depth'):
    """A figure of accuracy against kept depth or a cost, per checkpoint.

    Filled circles are plain accuracies, open squares those after BN
    re-estimation; a star marks the full network. Against kept depth a
    line joins the mean accuracy at each x; against a cost a line joins the
    Pareto-optimal subnets (ringed) of the accuracy they were chosen by.

    Args:
        runs (Sequence[dict]): One per checkpoint: ``label`` and
            ``subnets`` (full network first); on a cost axis also the
            costs, ``pareto`` flags and ``pareto_accuracy`` of
            :func:`mmstim.analysis.cost.mark_pareto_optimal`.
        x (str): A key of :data:`X_AXES` or ``'latency'``.
    """
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    label, value, axis = x_axis(x, runs[0]['subnets'][0])
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    for index, run in enumerate(runs):
        plot_run(ax, run, value, axis, f'C{index % 10}')
    ax.scatter([], [], marker='*', s=120, color='white', edgecolors='black',
               label='full network')
    if axis is not None:
        ax.scatter([], [], marker='o', s=110, facecolors='none',
                   edgecolors='black', label='Pareto-optimal')
    else:  # kept blocks: whole numbers
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel(label)
    ax.set_ylabel('top-1 accuracy (%)')
    ax.set_title('Subnet accuracy' if axis is None else
                 'Subnet accuracy and cost')
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def plot_run(ax, run: dict, value: Value, axis: Optional[str],
             color: str) -> None:
    """One checkpoint's points, and its mean line or Pareto front."""
    entries = run['subnets']
    xs = [value(e) for e in entries]
    for key, marker, face, style, suffix in SERIES:
        if key not in entries[0]:
            continue
        ys = [e[key] for e in entries]
        ax.scatter(xs, ys, marker=marker, facecolors=face or color,
                   edgecolors=color, s=28, label=run['label'] + suffix)
        if axis is None:  # the mean y at each distinct x
            groups = {}
            for x, y in zip(xs, ys):
                groups.setdefault(x, []).append(y)
            means = sorted((k, sum(v) / len(v)) for k, v in groups.items())
            ax.plot(*zip(*means), color=color, linestyle=style, linewidth=1)
        elif key == run['pareto_accuracy']:
            front = sorted((x, y) for x, y, e in zip(xs, ys, entries)
                           if e['pareto'][axis])
            ax.plot(*zip(*front), color=color, linestyle=style, marker='o',
                    markersize=10, markerfacecolor='none', linewidth=1.2)
    ax.scatter([xs[0]], [entries[0]['top1']], marker='*', s=220,
               color=color, edgecolors='black', zorder=3)


def plot_gains(series: Dict[str, List[tuple]], path: str) -> None:
    """Paired gains against depth, one line per series, saved as PNG.

    Args:
        series (dict): Per label, ``(depth, mean, std)`` points, e.g. of
            :func:`mmstim.benchmark.depth_study.gains_by_depth`.
        path (str): The PNG file.
    """
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 4.2))
    ax.axhline(0, color='grey', linewidth=0.8)
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


def plot_lesions(runs: Sequence[dict]):
    """A figure of single deletions (bars) and random deletions against k
    (error bars); ``runs``: per checkpoint ``label`` and the output of
    :func:`mmstim.analysis.lesion_study`."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.5))
    names = runs[0]['droppable']
    width = 0.8 / len(runs)
    for index, run in enumerate(runs):
        color = f'C{index % 10}'
        positions = [i + (index - (len(runs) - 1) / 2) * width
                     for i in range(len(run['single']))]
        left.bar(positions, [e['top1'] for e in run['single']], width,
                 color=color, label=run['label'])
        left.axhline(run['full']['top1'], color=color, linestyle='--',
                     linewidth=1)
        ks = [0] + [r['k'] for r in run['random']]
        means = [run['full']['top1']] + [r['mean_top1']
                                         for r in run['random']]
        stds = [0.0] + [r['std_top1'] for r in run['random']]
        right.errorbar(ks, means, yerr=stds, color=color, marker='o',
                       capsize=3, label=run['label'])
    left.set_xticks(range(len(names)))
    left.set_xticklabels(names, rotation=45, ha='right', fontsize=8)
    left.set_ylabel('top-1 accuracy (%)')
    left.set_title('One block deleted (dashed: intact network)')
    left.legend(fontsize=8)
    right.set_xticks(range(max(len(r['random']) for r in runs) + 1))
    right.set_xlabel('random droppable blocks deleted (k)')
    right.set_ylabel('top-1 accuracy (%), mean ± std over draws')
    right.set_title('k blocks deleted at random')
    right.grid(alpha=0.3)
    right.legend(fontsize=8)
    return fig
