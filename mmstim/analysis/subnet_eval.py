# Copyright (c) mmstim contributors. All rights reserved.
"""Evaluate a checkpoint's subnets through :class:`SubnetTestLoop`, on a
config's validation or test split, the checkpoint loaded strictly with
``weights_only=True``."""
import copy
import os.path as osp
import uuid
from typing import List, NamedTuple, Optional, Sequence, Tuple, Union

import numpy as np
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.runner import Runner

from mmstim.utils.checkpoint import load_weights

#: The top-1 metric of MMPretrain's ``Accuracy`` evaluator.
TOP1 = 'accuracy/top1'


class RunSpec(NamedTuple):
    """A trained network to analyse: its config, checkpoint and label."""
    config: str
    checkpoint: str
    label: str


def parse_run_spec(text: str) -> RunSpec:
    """Parse ``CONFIG:CHECKPOINT[:LABEL]`` (label: the config's name).

    Raises:
        ValueError: The text has not two or three non-empty fields.
    """
    parts = text.split(':')
    if len(parts) not in (2, 3) or not all(parts):
        raise ValueError(f'A run is CONFIG:CHECKPOINT[:LABEL]; got {text!r}.')
    label = parts[2] if len(parts) == 3 else osp.splitext(
        osp.basename(parts[0]))[0]
    return RunSpec(parts[0], parts[1], label)


def subnet_test_config(cfg: Config,
                       split: str = 'test',
                       num_workers: Optional[int] = None,
                       **loop_args) -> Config:
    """A copy of a config that tests subnets on one of its splits.

    Args:
        split (str): ``'val'`` or ``'test'``: whose loader and evaluator
            are used.
        num_workers (int, optional): Workers of the test and training
            (BN re-estimation) loaders.
        **loop_args: Arguments of :class:`SubnetTestLoop`.
    """
    if split not in ('val', 'test'):
        raise ValueError(f"split must be 'val' or 'test', got {split!r}.")
    cfg = copy.deepcopy(cfg)
    cfg.test_dataloader = cfg[f'{split}_dataloader']
    cfg.test_evaluator = cfg[f'{split}_evaluator']
    cfg.test_cfg = dict(type='SubnetTestLoop', **loop_args)
    for key in ('train_dataloader', 'test_dataloader'):
        if num_workers is not None:
            cfg[key].num_workers = num_workers
            if num_workers == 0:
                cfg[key].persistent_workers = False
    cfg.load_from, cfg.resume = None, False
    # its own logger and visualizer, also next to a training runner
    cfg.experiment_name = f'subnet_test_{uuid.uuid4().hex[:8]}'
    return cfg


def subnet_test_runner(cfg: Union[Config, str],
                       checkpoint: Optional[str] = None,
                       hooks: Sequence[Hook] = (),
                       **kwargs) -> Runner:
    """A Runner whose ``test()`` runs :class:`SubnetTestLoop`.

    Args:
        cfg (Config | str): The run's config or its path.
        checkpoint (str, optional): Loaded strictly into the model with
            ``weights_only=True``; None keeps the initial weights.
        hooks (Sequence[Hook]): Registered on the runner, e.g. to watch
            the test's progress.
        **kwargs: Arguments of :func:`subnet_test_config`.
    """
    if isinstance(cfg, str):
        cfg = Config.fromfile(cfg)
    runner = Runner.from_cfg(subnet_test_config(cfg, **kwargs))
    for hook in hooks:
        runner.register_hook(hook)
    if checkpoint is not None:
        load_weights(runner.model, checkpoint)
    return runner


def test_subnets(runner: Runner) -> Tuple[List[dict], dict]:
    """Run the subnet test of :func:`subnet_test_runner`'s runner; return
    the loop's per-subnet results (``top1`` and, with BN re-estimation,
    ``top1_recalibrated`` added) and its metrics."""
    metrics = runner.test()
    results = runner.test_loop.results
    for entry in results:
        entry['top1'] = float(entry['metrics'][TOP1])
        if 'recal_metrics' in entry:
            entry['top1_recalibrated'] = float(entry['recal_metrics'][TOP1])
    return results, metrics


def evaluate_subnets(cfg: Union[Config, str],
                     checkpoint: Optional[str] = None,
                     hooks: Sequence[Hook] = (),
                     **kwargs) -> Tuple[List[dict], dict]:
    """Evaluate the full network and subnets of a checkpoint.

    The arguments are those of :func:`subnet_test_runner`; the results
    those of :func:`test_subnets`.

    Examples:
        >>> results, _ = evaluate_subnets(
        ...     'configs/fashion_mnist/resnet14_stpp_fashion-mnist.py',
        ...     'work_dirs/stpp/epoch_10.pth', recalibration_images=2000)
        >>> [(r['name'], r['top1'], r['top1_recalibrated']) for r in results]
    """
    return test_subnets(
        subnet_test_runner(cfg, checkpoint, hooks, **kwargs))


def mean_subnet_accuracy(results: Sequence[dict],
                         key: str = 'top1') -> Optional[float]:
    """Mean of ``key`` over the proper subnets (None when none has it)."""
    values = [r[key] for r in results if not r['full'] and key in r]
    return float(np.mean(values)) if values else None
