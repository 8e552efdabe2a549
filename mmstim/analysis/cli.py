# Copyright (c) mmstim contributors. All rights reserved.
"""Options and outputs shared by the analysis tools."""
import argparse
import os
import os.path as osp
from typing import List, Optional, Sequence, Tuple

import torch
from mmengine.config import Config, DictAction
from mmengine.fileio import dump

from .subnet_eval import RunSpec, parse_run_spec


def add_run_args(parser: argparse.ArgumentParser, name: str) -> None:
    """Options naming the runs, their data and the outputs (by default
    ``work_dirs/analysis/<name>.json`` and ``.png``)."""
    parser.add_argument(
        '--runs', nargs='+', required=True, metavar='CONFIG:CKPT[:LABEL]',
        help='checkpoints to analyse, each with its config')
    parser.add_argument('--split', choices=('val', 'test'), default='val')
    parser.add_argument(
        '--seed', type=int, default=0,
        help='seed of random choices and of the recalibration images')
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


def load_runs(runs: Sequence[str], cfg_options: Optional[dict] = None,
              data_root: Optional[str] = None,
              threads: Optional[int] = None) -> List[Tuple[RunSpec, Config]]:
    """The runs (``CONFIG:CKPT[:LABEL]`` texts) with their configs,
    ``cfg_options`` and ``data_root`` applied; also sets torch's threads.

    Raises:
        ValueError: A run is malformed.
        FileNotFoundError: A checkpoint does not exist.
    """
    if threads:
        torch.set_num_threads(threads)
    loaded = []
    for text in runs:
        spec = parse_run_spec(text)
        if not osp.isfile(spec.checkpoint):
            raise FileNotFoundError(
                f'checkpoint {spec.checkpoint} does not exist.')
        cfg = Config.fromfile(spec.config)
        cfg.merge_from_dict(cfg_options or {})
        if data_root:
            for key in ('train_dataloader', 'val_dataloader',
                        'test_dataloader'):
                cfg[key].dataset.data_root = data_root
        cfg.work_dir = osp.join('work_dirs', 'analysis', spec.label)
        loaded.append((spec, cfg))
    return loaded


def write_outputs(out_json: str, out_png: str, settings: dict, runs: list,
                  fig) -> None:
    """Write ``{"settings", "runs"}`` as JSON and the figure as PNG."""
    import matplotlib.pyplot as plt
    for path in (out_json, out_png):
        os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    dump(dict(settings=settings, runs=runs), out_json, indent=2)
    fig.tight_layout()
    fig.savefig(out_png, dpi=120)
    plt.close(fig)
    print(f'wrote {out_json} and {out_png}')
