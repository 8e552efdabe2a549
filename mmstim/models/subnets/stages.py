# Copyright (c) mmstim contributors. All rights reserved.
"""Residual stages of a backbone, subnet specifications and running a subnet.

A *subnet* keeps, in every residual stage, a subset of that stage's blocks.
It is written as one keep-mask per stage (``((True, True, False), ...)``);
a tuple of kept depths such as ``(3, 3, 4, 3)`` is shorthand for "keep the
first d blocks of each stage". Only blocks with an identity shortcut may be
dropped, and a stage's first block never is.
"""
from contextlib import contextmanager
from numbers import Integral
from typing import Iterator, List, Sequence, Tuple, Union

import torch.nn as nn
from torch.nn.modules.batchnorm import _BatchNorm

Mask = Tuple[Tuple[bool, ...], ...]
SubnetSpec = Union[Sequence[int], Sequence[Sequence[Union[bool, int]]]]

SUPPORTED_BACKBONES = ('ResNet', 'ResNetV1c', 'ResNetV1d', 'ResNeXt',
                       'SEResNet', 'SEResNeXt', 'ResNet_CIFAR')


class ResidualStage:
    """The blocks of one residual stage and which of them may be dropped.

    Args:
        name (str): Attribute name of the stage in the backbone.
        blocks (list[nn.Module]): The stage's blocks, in order.
    """

    def __init__(self, name: str, blocks: List[nn.Module]):
        self.name = name
        self.blocks = blocks
        self.skippable = tuple(
            index > 0 and getattr(block, 'downsample', None) is None
            for index, block in enumerate(blocks))

    def __len__(self) -> int:
        return len(self.blocks)

    def __repr__(self) -> str:
        return (f'ResidualStage({self.name!r}, {len(self)} blocks, '
                f'skippable={self.skippable})')


def find_residual_stages(backbone: nn.Module) -> List[ResidualStage]:
    """List the residual stages of a ResNet-family backbone.

    Args:
        backbone (nn.Module): A backbone of MMPretrain's ResNet family.

    Returns:
        list[ResidualStage]: One entry per stage, in forward order.

    Raises:
        TypeError: The backbone is not of a supported type.
    """
    from mmpretrain.models.backbones import ResNet
    if not isinstance(backbone, ResNet):
        raise TypeError(
            f'Stimulative training needs a residual backbone of the ResNet '
            f'family; got {type(backbone).__name__}. Supported: '
            f'{", ".join(SUPPORTED_BACKBONES)}.')
    return [
        ResidualStage(name, list(getattr(backbone, name)))
        for name in backbone.res_layers
    ]


def stage_depths(stages: Sequence[ResidualStage]) -> Tuple[int, ...]:
    """Return the number of blocks of every stage."""
    return tuple(len(stage) for stage in stages)


def to_mask(stages: Sequence[ResidualStage], spec: SubnetSpec) -> Mask:
    """Turn kept depths or keep-masks into validated keep-masks.

    Args:
        stages (Sequence[ResidualStage]): The backbone's stages.
        spec: A tuple of kept depths (one int per stage) or keep-masks (one
            sequence of bools per stage).

    Returns:
        Mask: One tuple of bools per stage.

    Raises:
        ValueError: The spec does not fit the stages, keeps no block of a
            stage, or drops a block that has no identity shortcut.
    """
    depths = stage_depths(stages)
    spec = tuple(spec)
    if len(spec) != len(stages):
        raise ValueError(f'Subnet {spec} names {len(spec)} stages; the '
                         f'backbone has {len(stages)} with depths {depths}.')
    masks = []
    for index, (stage, item) in enumerate(zip(stages, spec)):
        if isinstance(item, Integral) and not isinstance(item, bool):
            if not 1 <= item <= len(stage):
                raise ValueError(
                    f'Subnet {spec}: stage {index} keeps {item} blocks; '
                    f'allowed 1 to {len(stage)} (its depth).')
            mask = tuple(i < item for i in range(len(stage)))
        else:
            mask = tuple(bool(keep) for keep in item)
            if len(mask) != len(stage):
                raise ValueError(
                    f'Subnet {spec}: the mask of stage {index} has '
                    f'{len(mask)} entries; the stage has {len(stage)} '
                    f'blocks.')
        for block, (keep, skippable) in enumerate(zip(mask,
                                                      stage.skippable)):
            if not keep and not skippable:
                raise ValueError(
                    f'Subnet {spec}: block {block} of stage {index} cannot '
                    f'be dropped (only blocks with an identity shortcut, '
                    f'never the first of a stage, can); droppable: '
                    f'{[i for i, s in enumerate(stage.skippable) if s]}.')
        masks.append(mask)
    return tuple(masks)


def full_mask(stages: Sequence[ResidualStage]) -> Mask:
    """The keep-mask of the full network."""
    return tuple((True, ) * len(stage) for stage in stages)


def kept_depths(mask: Mask) -> Tuple[int, ...]:
    """Number of kept blocks per stage."""
    return tuple(sum(stage_mask) for stage_mask in mask)


def _skip_block(block: nn.Module) -> None:
    # An instance attribute shadows the class's ``forward``; a plain
    # function is neither a parameter nor a buffer, so state dicts are
    # untouched. A dropped block with an identity shortcut is the identity.
    block.forward = _identity


def _identity(x):
    return x


@contextmanager
def run_as_subnet(stages: Sequence[ResidualStage],
                  spec: SubnetSpec) -> Iterator[Mask]:
    """Run the backbone as a subnet inside the ``with`` block.

    The dropped blocks act as the identity; on leaving the block, also by an
    exception, every block is restored.

    Args:
        stages (Sequence[ResidualStage]): The backbone's stages.
        spec: Kept depths or keep-masks, see :func:`to_mask`.

    Yields:
        Mask: The validated keep-mask.
    """
    mask = to_mask(stages, spec)
    dropped = [
        block for stage, stage_mask in zip(stages, mask)
        for block, keep in zip(stage.blocks, stage_mask) if not keep
    ]
    try:
        for block in dropped:
            _skip_block(block)
        yield mask
    finally:
        for block in dropped:
            block.__dict__.pop('forward', None)


@contextmanager
def frozen_bn_statistics(module: nn.Module) -> Iterator[None]:
    """Keep BN running statistics untouched inside the ``with`` block.

    BN layers in training mode still normalise with the statistics of the
    batch, but ``running_mean``, ``running_var`` and ``num_batches_tracked``
    are neither used nor updated (``track_running_stats`` is switched off
    for the duration and restored afterwards, also after an exception).

    Args:
        module (nn.Module): The module whose BN layers are frozen.
    """
    norms = [
        m for m in module.modules()
        if isinstance(m, _BatchNorm) and m.track_running_stats
    ]
    try:
        for norm in norms:
            norm.track_running_stats = False
        yield
    finally:
        for norm in norms:
            norm.track_running_stats = True
