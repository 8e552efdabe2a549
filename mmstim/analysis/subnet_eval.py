# Copyright (c) mmstim contributors. All rights reserved.
"""Accuracy of a trained network's subnets, with or without BN recalibration.

Works on any classifier with a ResNet-family backbone: stimulatively trained
ones and plain ``ImageClassifier`` baselines alike.
"""
import itertools
from contextlib import contextmanager
from typing import Iterable, Iterator, List, Optional, Sequence

import numpy as np
import torch
import torch.nn as nn
from torch.nn.modules.batchnorm import _BatchNorm

from mmstim.models.subnets import (SubnetSampler, SubnetSpec,
                                   find_residual_stages, run_as_subnet)


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
def recalibrated_bn(model: nn.Module, dataloader: Iterable,
                    num_images: int) -> Iterator[None]:
    """Re-estimate BN running statistics for the network as it runs now.

    Inside the ``with`` block the BN layers hold statistics averaged over
    ``num_images`` training images (forward passes in training mode, no
    gradients); on leaving it the original statistics are restored.

    Args:
        model (nn.Module): The classifier, possibly inside a subnet context.
        dataloader (Iterable): Training batches (training augmentation is
            fine: it is what the statistics saw during training).
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
        with torch.no_grad():
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
                      progress: bool = False) -> List[dict]:
    """Accuracy of each subnet, optionally also after BN recalibration.

    Args:
        model (nn.Module): An MMPretrain classifier with a ResNet backbone.
        specs (Sequence): Subnets as kept depths or keep-masks.
        val_loader (Iterable): Validation batches.
        train_loader (Iterable, optional): Training batches for BN
            recalibration.
        recalibration_images (int): Images for recalibration; 0 skips it.
        progress (bool): Show a progress bar. Defaults to False.

    Returns:
        list[dict]: Per subnet: ``depths``, ``mask``, ``kept_blocks``,
        ``top1`` and, with recalibration, ``top1_recalibrated``.
    """
    stages = find_residual_stages(model.backbone)
    iterator = specs
    if progress:
        from tqdm import tqdm
        iterator = tqdm(specs, desc='subnets')
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
