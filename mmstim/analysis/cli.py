# Copyright (c) mmstim contributors. All rights reserved.
"""Command-line pieces shared by the analysis tools."""
import argparse
import json
import os
import os.path as osp
from typing import List, Sequence

import torch
from mmengine.config import DictAction


def add_data_and_output_args(parser: argparse.ArgumentParser,
                             name: str) -> None:
    """Options for the data the runs are evaluated on and the outputs.

    Args:
        parser (argparse.ArgumentParser): The tool's parser.
        name (str): Stem of the default output files under
            ``work_dirs/analysis``.
    """
    parser.add_argument('--split', choices=('val', 'test'), default='val')
    parser.add_argument(
        '--data-root', help="data_root of every loader's dataset")
    parser.add_argument('--num-workers', type=int, default=None)
    parser.add_argument(
        '--threads', type=int,
        help="torch's intra-op threads (default: torch's choice)")
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config entries of every run')
    parser.add_argument(
        '--out-json', default=f'work_dirs/analysis/{name}.json')
    parser.add_argument(
        '--out-png', default=f'work_dirs/analysis/{name}.png')


def apply_threads(args: argparse.Namespace) -> None:
    """Set torch's intra-op threads when ``--threads`` is given."""
    if args.threads:
        torch.set_num_threads(args.threads)


def missing_checkpoints(checkpoints: Sequence[str]) -> List[str]:
    """The checkpoint paths that are not files."""
    return [path for path in checkpoints if not osp.isfile(path)]


def write_results(path: str, settings: dict, runs: list) -> None:
    """Write ``{"settings": ..., "runs": ...}`` as JSON, creating folders."""
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    with open(path, 'w') as f:
        json.dump(dict(settings=settings, runs=runs), f, indent=2)


def save_figure(fig, path: str) -> None:
    """Lay out a matplotlib figure, write it as PNG (folders created)."""
    import matplotlib.pyplot as plt
    fig.tight_layout()
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
