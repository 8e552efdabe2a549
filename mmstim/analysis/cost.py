# Copyright (c) mmstim contributors. All rights reserved.
"""Theoretical compute of stimulative training relative to plain training."""
from typing import Dict, Optional, Sequence

import torch
import torch.nn as nn
from mmengine.analysis import FlopAnalyzer

from mmstim.models.subnets import (RandomSubnetResize, SubnetSampler,
                                   find_residual_stages)


def count_macs(model: nn.Module, inputs: torch.Tensor) -> Dict[str, int]:
    """Multiply-accumulates of every convolution and linear layer.

    Counted by MMEngine's ``FlopAnalyzer`` (whose "flops" of convolutions
    and linear layers are MACs); layers that did not run count 0.

    Args:
        model (nn.Module): Called as ``model(inputs)``.
        inputs (Tensor): An input batch of one image.

    Returns:
        dict[str, int]: MACs per module name (convolutions and linear
        layers only; normalisation and activations are negligible).
    """
    analyzer = FlopAnalyzer(model, (inputs, ))
    analyzer.unsupported_ops_warnings(False)
    analyzer.uncalled_modules_warnings(False)
    by_module = analyzer.by_module()
    return {
        name: int(by_module.get(name, 0))
        for name, module in model.named_modules()
        if isinstance(module, (nn.Conv2d, nn.Linear))
    }


def block_macs(classifier: nn.Module, side: int,
               channels: int = 3) -> Dict[str, object]:
    """Split a classifier's MACs into its residual blocks and the rest.

    Args:
        classifier (nn.Module): A classifier with a ResNet-family backbone
            (``backbone``, ``neck``, ``head`` as in MMPretrain).
        side (int): Input side.
        channels (int): Input channels. Defaults to 3.

    Returns:
        dict: ``blocks`` (MACs per stage and block), ``spatial`` (the other
        convolutions: stem, necks) and ``linear`` (fully connected layers,
        whose cost does not depend on the input size).
    """
    was_training = classifier.training
    classifier.eval()
    macs = _tensor_mode_macs(classifier, side, channels)
    classifier.train(was_training)
    linear = {
        name for name, module in classifier.named_modules()
        if isinstance(module, nn.Linear)
    }
    stages = find_residual_stages(classifier.backbone)
    blocks = []
    assigned = set()
    for stage in stages:
        stage_macs = []
        for index in range(len(stage)):
            prefix = f'backbone.{stage.name}.{index}.'
            names = [n for n in macs if n.startswith(prefix)]
            assigned.update(names)
            stage_macs.append(sum(macs[n] for n in names))
        blocks.append(stage_macs)
    spatial = sum(v for n, v in macs.items()
                  if n not in assigned and n not in linear)
    flat = sum(v for n, v in macs.items() if n in linear)
    return dict(blocks=blocks, spatial=spatial, linear=flat)


def subnet_macs(parts: dict, mask: Sequence[Sequence[bool]]) -> int:
    """MACs of a subnet from :func:`block_macs`'s split of a classifier.

    A dropped block acts as the identity, so a subnet costs the layers
    outside the blocks plus its kept blocks.

    Args:
        parts (dict): The output of :func:`block_macs`.
        mask (Sequence[Sequence[bool]]): Keep-mask per stage.

    Returns:
        int: The subnet's MACs for one image.
    """
    kept = sum(
        macs for stage_macs, stage_mask in zip(parts['blocks'], mask)
        for macs, keep in zip(stage_macs, stage_mask) if keep)
    return int(parts['spatial'] + kept + parts['linear'])


class _TensorMode(nn.Module):
    """Calls a classifier in ``mode='tensor'``."""

    def __init__(self, classifier: nn.Module):
        super().__init__()
        self.classifier = classifier

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.classifier(inputs, mode='tensor')


def _tensor_mode_macs(classifier: nn.Module, side: int,
                      channels: int) -> Dict[str, int]:
    macs = count_macs(
        _TensorMode(classifier), torch.zeros(1, channels, side, side))
    prefix = 'classifier.'
    return {name[len(prefix):]: value for name, value in macs.items()}


def expected_cost_ratio(classifier: nn.Module,
                        sampler: SubnetSampler,
                        num_subnets: int,
                        side: int,
                        resize: Optional[RandomSubnetResize] = None,
                        channels: int = 3) -> Dict[str, float]:
    """Theoretical compute of one ST iteration over one plain iteration.

    The expected MACs of a subnet are the stem plus each block's MACs times
    the probability that the rule keeps it, scaled by the expected input
    area ``E[s^2] / H^2`` of the resize distribution, plus the fully
    connected layers. Forward
    and backward scale alike, so the ratio of MACs is the ratio of compute.

    Args:
        classifier (nn.Module): The classifier.
        sampler (SubnetSampler): The sampling rule.
        num_subnets (int): Subnets per iteration.
        side (int): Side of the main network's input.
        resize (RandomSubnetResize, optional): The subnet input resize.
        channels (int): Input channels. Defaults to 3.

    Returns:
        dict[str, float]: ``full_macs``, ``expected_subnet_macs``,
        ``expected_kept_fraction`` (of block MACs), ``expected_area`` and
        ``ratio`` = (full + num_subnets * subnet) / full.
    """
    parts = block_macs(classifier, side, channels)
    keep = sampler.expected_kept_fraction()
    block_total = sum(sum(stage) for stage in parts['blocks'])
    kept = sum(p * m for stage_p, stage_m in zip(keep, parts['blocks'])
               for p, m in zip(stage_p, stage_m))
    full = parts['spatial'] + block_total + parts['linear']
    if resize is not None:
        sides = resize.side_range(side)
        area = sum(s * s for s in sides) / len(sides) / side**2
    else:
        area = 1.0
    subnet = (parts['spatial'] + kept) * area + parts['linear']
    return dict(
        full_macs=float(full),
        expected_subnet_macs=float(subnet),
        expected_kept_fraction=kept / block_total,
        expected_area=area,
        ratio=(full + num_subnets * subnet) / full)
