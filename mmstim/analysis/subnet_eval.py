# Copyright (c) mmstim contributors. All rights reserved.
"""Accuracy of a trained network's subnets, with or without BN recalibration.

Works on any classifier with a ResNet-family backbone: stimulatively trained
ones and plain ``ImageClassifier`` baselines alike. The helpers at the end
build a classifier and its data loaders from a config and a checkpoint, as
the analysis tools do.
"""
import copy
import itertools
import os.path as osp
import random
from contextlib import contextmanager
from typing import (Dict, Iterable, Iterator, List, NamedTuple, Optional,
                    Sequence, Tuple)

import numpy as np
import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import Runner
from mmpretrain.registry import MODELS
from torch.nn.modules.batchnorm import _BatchNorm

from mmstim.models.subnets import (SubnetSampler, SubnetSpec,
                                   find_residual_stages, run_as_subnet)
from mmstim.utils.checkpoint import load_checkpoint_file
from mmstim.utils.model_converters import get_state_dict


def subnets_of_rule(sampler: SubnetSampler,
                    max_subnets: Optional[int] = None,
                    seed: int = 0) -> List[tuple]:
    """List the subnets (kept depths) of a depth rule.

    Args:
        sampler (SubnetSampler): A sampler with a depth rule.
        max_subnets (int, optional): When the space is larger, this many
            distinct subnets drawn at random (the full network always
            included). Defaults to None (all).
        seed (int): Seed of the random choice. Defaults to 0.

    Returns:
        list[tuple[int]]: Kept depths per stage, deepest first.
    """
    if sampler.allowed_depths is None:
        raise ValueError('Only depth rules can be enumerated; the '
                         'stochastic_depth rule draws masks.')
    space = list(itertools.product(*sampler.allowed_depths))
    full = tuple(len(stage) for stage in sampler.stages)
    if max_subnets is not None and len(space) > max_subnets:
        rng = np.random.default_rng(seed)
        others = [s for s in space if s != full]
        chosen = rng.choice(len(others), max_subnets - 1, replace=False)
        space = [full] + [others[i] for i in sorted(chosen)]
    return sorted(set(space) | {full}, key=lambda s: (-sum(s), s))


@torch.no_grad()
def top1_accuracy(model: nn.Module, dataloader: Iterable,
                  max_batches: Optional[int] = None) -> float:
    """Top-1 accuracy (%) of a classifier in eval mode.

    Args:
        model (nn.Module): An MMPretrain classifier.
        dataloader (Iterable): Yields batches as MMEngine data loaders do.
        max_batches (int, optional): Stop after this many batches.

    Returns:
        float: Top-1 accuracy in percent.
    """
    was_training = model.training
    model.eval()
    correct = total = 0
    for index, batch in enumerate(dataloader):
        if max_batches is not None and index >= max_batches:
            break
        data = model.data_preprocessor(batch, False)
        logits = model(data['inputs'], mode='tensor')
        labels = torch.cat(
            [s.gt_label for s in data['data_samples']]).to(logits.device)
        correct += int((logits.argmax(dim=1) == labels).sum())
        total += labels.numel()
    model.train(was_training)
    return 100.0 * correct / max(total, 1)


@contextmanager
def seeded_random_state(seed: int) -> Iterator[None]:
    """Seed Python's, NumPy's and torch's generators for a block.

    The generators' previous states (torch's on the CPU and every CUDA
    device, through :func:`torch.random.fork_rng`) are restored on leaving,
    so what ran before the block does not change what runs inside it, and
    the block does not change what runs after it.

    Args:
        seed (int): The seed of all the generators inside the block.
    """
    python_state, numpy_state = random.getstate(), np.random.get_state()
    with torch.random.fork_rng():
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)
        try:
            yield
        finally:
            random.setstate(python_state)
            np.random.set_state(numpy_state)


@contextmanager
def recalibrated_bn(model: nn.Module, dataloader: Iterable,
                    num_images: int) -> Iterator[None]:
    """Re-estimate BN running statistics for the network as it runs now.

    Inside the ``with`` block the BN layers hold statistics averaged over
    ``num_images`` training images (forward passes in training mode, no
    gradients); on leaving it the original statistics are restored.

    Args:
        model (nn.Module): The classifier, possibly inside a subnet context.
        dataloader (Iterable): Training batches (training augmentation is
            fine: it is what the statistics saw during training). The
            random augmentation of a loader without workers draws from
            generators seeded with 0 for the pass, so every recalibration
            sees the same images whatever ran before.
        num_images (int): Number of images to average over.
    """
    norms = [m for m in model.modules()
             if isinstance(m, _BatchNorm) and m.track_running_stats]
    saved = [(m.momentum, m.running_mean.clone(), m.running_var.clone(),
              m.num_batches_tracked.clone()) for m in norms]
    was_training = model.training
    try:
        for norm in norms:
            norm.reset_running_stats()
            norm.momentum = None  # cumulative average over the batches
        model.train()
        seen = 0
        with torch.no_grad(), seeded_random_state(0):
            for batch in dataloader:
                if seen >= num_images:
                    break
                data = model.data_preprocessor(batch, False)
                model(data['inputs'], mode='tensor')
                seen += data['inputs'].shape[0]
        model.eval()
        yield
    finally:
        for norm, (momentum, mean, var, count) in zip(norms, saved):
            norm.momentum = momentum
            norm.running_mean.copy_(mean)
            norm.running_var.copy_(var)
            norm.num_batches_tracked.copy_(count)
        model.train(was_training)


def subnet_accuracies(model: nn.Module,
                      specs: Sequence[SubnetSpec],
                      val_loader: Iterable,
                      train_loader: Optional[Iterable] = None,
                      recalibration_images: int = 0,
                      progress: bool = False,
                      desc: str = 'subnets') -> List[dict]:
    """Accuracy of each subnet, optionally also after BN recalibration.

    Args:
        model (nn.Module): An MMPretrain classifier with a ResNet backbone.
        specs (Sequence): Subnets as kept depths or keep-masks.
        val_loader (Iterable): Validation batches.
        train_loader (Iterable, optional): Training batches for BN
            recalibration.
        recalibration_images (int): Images for recalibration; 0 skips it.
        progress (bool): Show a progress bar. Defaults to False.
        desc (str): Label of the progress bar. Defaults to ``'subnets'``.

    Returns:
        list[dict]: Per subnet: ``depths``, ``mask``, ``kept_blocks``,
        ``top1`` and, with recalibration, ``top1_recalibrated``.
    """
    stages = find_residual_stages(model.backbone)
    iterator = specs
    if progress:
        from tqdm import tqdm
        iterator = tqdm(specs, desc=desc)
    results = []
    for spec in iterator:
        with run_as_subnet(stages, spec) as mask:
            entry = dict(
                depths=[sum(m) for m in mask],
                mask=[[int(k) for k in m] for m in mask],
                kept_blocks=sum(sum(m) for m in mask),
                full=all(all(m) for m in mask),
                top1=top1_accuracy(model, val_loader))
            if recalibration_images > 0:
                if train_loader is None:
                    raise ValueError('BN recalibration needs a train_loader.')
                with recalibrated_bn(model, train_loader,
                                     recalibration_images):
                    entry['top1_recalibrated'] = top1_accuracy(
                        model, val_loader)
        results.append(entry)
    return results


def mean_subnet_accuracy(results: Sequence[dict],
                         key: str = 'top1') -> Optional[float]:
    """Mean accuracy of the subnets, the full network left out.

    Args:
        results (Sequence[dict]): Entries of :func:`subnet_accuracies`.
        key (str): ``'top1'`` or ``'top1_recalibrated'``.

    Returns:
        float | None: The mean, or None when no proper subnet holds the key.
    """
    values = [r[key] for r in results if not r['full'] and key in r]
    if not values:
        return None
    return float(np.mean(values))


def subnet_macs(parts: dict, mask: Sequence[Sequence[bool]]) -> int:
    """MACs of a subnet from a classifier's split of MACs.

    A dropped block acts as the identity, so a subnet costs the layers
    outside the blocks plus its kept blocks.

    Args:
        parts (dict): The output of :func:`mmstim.analysis.cost.block_macs`.
        mask (Sequence[Sequence[bool]]): Keep-mask per stage.

    Returns:
        int: The subnet's MACs for one image.
    """
    kept = sum(
        macs for stage_macs, stage_mask in zip(parts['blocks'], mask)
        for macs, keep in zip(stage_macs, stage_mask) if keep)
    return int(parts['spatial'] + kept + parts['linear'])


def annotate_macs(results: List[dict], parts: dict) -> List[dict]:
    """Add ``macs`` and ``macs_ratio`` (to the full network) to entries.

    Args:
        results (list[dict]): Entries holding a keep-mask under ``mask``.
        parts (dict): The output of :func:`mmstim.analysis.cost.block_macs`.

    Returns:
        list[dict]: The same entries, updated in place.
    """
    full = subnet_macs(parts, [[True] * len(s) for s in parts['blocks']])
    for entry in results:
        entry['macs'] = subnet_macs(parts, entry['mask'])
        entry['macs_ratio'] = entry['macs'] / full
    return results


class RunSpec(NamedTuple):
    """A trained network to analyse: its config, checkpoint and label."""
    config: str
    checkpoint: str
    label: str


def parse_run_spec(text: str) -> RunSpec:
    """Parse ``CONFIG:CHECKPOINT[:LABEL]``.

    Args:
        text (str): The run, e.g. ``configs/x.py:work_dirs/x/epoch_10.pth``.

    Returns:
        RunSpec: The run; the label defaults to the config's name.

    Raises:
        ValueError: The text has not two or three non-empty fields.
    """
    parts = text.split(':')
    if len(parts) not in (2, 3) or not all(parts):
        raise ValueError(f'A run is CONFIG:CHECKPOINT[:LABEL]; got {text!r}.')
    config, checkpoint = parts[:2]
    label = parts[2] if len(parts) == 3 else osp.splitext(
        osp.basename(config))[0]
    return RunSpec(config, checkpoint, label)


def load_state_dict(checkpoint: str) -> Dict[str, torch.Tensor]:
    """The model weights of a checkpoint, loaded with ``weights_only``.

    Args:
        checkpoint (str): A local checkpoint file (MMEngine's or a bare
            state dict).

    Returns:
        dict[str, Tensor]: The state dict, without a ``module.`` prefix.

    Raises:
        FileNotFoundError: The file does not exist.
        UnsafeCheckpointError: The file holds objects that ``weights_only``
            loading refuses.
    """
    return get_state_dict(load_checkpoint_file(checkpoint))


def load_classifier(config: str,
                    checkpoint: str,
                    cfg_options: Optional[dict] = None
                    ) -> Tuple[nn.Module, Config]:
    """Build a classifier from a config and load a checkpoint into it.

    Args:
        config (str): The config file.
        checkpoint (str): The checkpoint file (loaded with
            ``weights_only=True``; every key must match the model).
        cfg_options (dict, optional): Config entries to override.

    Returns:
        tuple[nn.Module, Config]: The classifier in eval mode and the
        merged config.
    """
    cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    model_cfg = copy.deepcopy(cfg.model)
    if cfg.get('data_preprocessor') is not None:
        model_cfg.setdefault('data_preprocessor',
                             copy.deepcopy(cfg.data_preprocessor))
    model = MODELS.build(model_cfg)
    model.load_state_dict(load_state_dict(checkpoint), strict=True)
    model.eval()
    return model, cfg


def build_dataloader(cfg: Config,
                     key: str,
                     num_workers: Optional[int] = None,
                     seed: int = 0) -> Iterable:
    """Build one of a config's data loaders.

    Args:
        cfg (Config): The config.
        key (str): ``'train_dataloader'``, ``'val_dataloader'`` or
            ``'test_dataloader'``.
        num_workers (int, optional): Override of the loader's workers.
        seed (int): Seed of the sampler's shuffling. Defaults to 0.

    Returns:
        DataLoader: The data loader.
    """
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    loader_cfg = copy.deepcopy(cfg[key])
    if num_workers is not None:
        loader_cfg['num_workers'] = num_workers
    if loader_cfg.get('num_workers', 0) == 0:
        loader_cfg['persistent_workers'] = False
    return Runner.build_dataloader(loader_cfg, seed=seed)


def input_shape(model: nn.Module, dataloader: Iterable) -> Tuple[int, ...]:
    """Shape (C, H, W) of the model's inputs from a data loader's batch."""
    batch = next(iter(dataloader))
    inputs = model.data_preprocessor(batch, False)['inputs']
    return tuple(int(d) for d in inputs.shape[1:])


def data_root_options(data_root: str,
                      loaders: Sequence[str] = ('train_dataloader',
                                                'val_dataloader',
                                                'test_dataloader')) -> dict:
    """Config overrides that point every loader's dataset to a data root."""
    return {f'{key}.dataset.data_root': data_root for key in loaders}


class LoadedRun(NamedTuple):
    """A classifier with its config and data loaders."""
    spec: RunSpec
    model: nn.Module
    cfg: Config
    val_loader: Iterable
    train_loader: Optional[Iterable]


def load_run(spec: RunSpec,
             cfg_options: Optional[dict] = None,
             split: str = 'val',
             num_workers: Optional[int] = None,
             with_train_loader: bool = False,
             seed: int = 0) -> LoadedRun:
    """Load a run's classifier and build its evaluation data loaders.

    Args:
        spec (RunSpec): Config, checkpoint and label.
        cfg_options (dict, optional): Config entries to override.
        split (str): Evaluate on the config's ``'val'`` or ``'test'`` data
            loader. Defaults to ``'val'``.
        num_workers (int, optional): Override of the loaders' workers.
        with_train_loader (bool): Also build the training loader (for BN
            recalibration). Defaults to False.
        seed (int): Seed of the training loader's shuffling.

    Returns:
        LoadedRun: The model in eval mode, the config and the loaders.

    Raises:
        ValueError: ``split`` is neither ``'val'`` nor ``'test'``.
    """
    if split not in ('val', 'test'):
        raise ValueError(f"split must be 'val' or 'test', got {split!r}.")
    model, cfg = load_classifier(spec.config, spec.checkpoint, cfg_options)
    val_loader = build_dataloader(cfg, f'{split}_dataloader', num_workers)
    train_loader = (
        build_dataloader(cfg, 'train_dataloader', num_workers, seed)
        if with_train_loader else None)
    return LoadedRun(spec, model, cfg, val_loader, train_loader)
