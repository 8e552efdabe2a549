# Copyright (c) mmstim contributors. All rights reserved.
"""Residual stages of a backbone, subnet specifications and running a subnet.

A subnet is one keep-mask per stage (``((True, True, False), ...)``), or
kept depths such as ``(3, 3, 4, 3)`` for "the first d blocks of each stage".
Only blocks with an identity shortcut may be dropped (they then return their
input), never a stage's first. :func:`register_residual_stages` adds
backbones (see ``residual_backbones.py``).
"""
from contextlib import contextmanager
from numbers import Integral
from typing import Callable, Dict, Iterator, List, Sequence, Tuple, Type, Union

import torch.nn as nn
from torch.nn.modules.batchnorm import _BatchNorm

Mask = Tuple[Tuple[bool, ...], ...]
SubnetSpec = Union[Sequence[int], Sequence[Sequence[Union[bool, int]]]]
StagesOf = Callable[[nn.Module], List['ResidualStage']]

#: Backbone class -> the function that lists its residual stages.
_STAGES_OF: Dict[type, StagesOf] = {}


class ResidualStage:
    """The blocks of one residual stage (named as in the backbone, e.g.
    ``'layer1'``) and which of them may be dropped.

    Args:
        identity_shortcut (Sequence[bool]): Per block, whether its output is
            ``x + f(x)``; None: whether it has no ``downsample`` (ResNet).
    """

    def __init__(self, name: str, blocks: List[nn.Module],
                 identity_shortcut: Sequence[bool] = None):
        self.name = name
        self.blocks = blocks
        if identity_shortcut is None:
            identity_shortcut = [getattr(block, 'downsample', None) is None
                                 for block in blocks]
        self.skippable = tuple(
            index > 0 and bool(identity)
            for index, identity in enumerate(identity_shortcut))

    def __len__(self) -> int:
        return len(self.blocks)

    def __repr__(self) -> str:
        return (f'ResidualStage({self.name!r}, {len(self)} blocks, '
                f'skippable={self.skippable})')


def register_residual_stages(
        *backbone_types: Type[nn.Module]) -> Callable[[StagesOf], StagesOf]:
    """Register the function that lists the residual stages of backbones
    of the given classes and their subclasses (the most specific wins)."""

    def register(stages_of: StagesOf) -> StagesOf:
        for backbone_type in backbone_types:
            _STAGES_OF[backbone_type] = stages_of
        return stages_of

    return register


def supported_backbones() -> List[str]:
    """Names of the backbone classes with registered residual stages."""
    return sorted(cls.__name__ for cls in _STAGES_OF)


def find_residual_stages(backbone: nn.Module) -> List[ResidualStage]:
    """The residual stages of a backbone, in forward order; a TypeError
    names the supported backbones when none of its classes is registered."""
    for cls in type(backbone).__mro__:
        if cls in _STAGES_OF:
            return _STAGES_OF[cls](backbone)
    raise TypeError(
        f'Stimulative training needs a residual backbone; '
        f'{type(backbone).__name__} is none of the supported ones (and '
        f'their subclasses): {", ".join(supported_backbones())}. Register '
        f'its stages with mmstim.models.subnets.register_residual_stages.')


def stage_depths(stages: Sequence[ResidualStage]) -> Tuple[int, ...]:
    """Return the number of blocks of every stage."""
    return tuple(len(stage) for stage in stages)


def to_mask(stages: Sequence[ResidualStage], spec: SubnetSpec) -> Mask:
    """Turn kept depths or keep-masks (one per stage) into keep-masks.

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


def _identity(x, *args, **kwargs):
    return x


@contextmanager
def run_as_subnet(stages: Sequence[ResidualStage],
                  spec: SubnetSpec) -> Iterator[Mask]:
    """Run the backbone as the subnet ``spec`` inside the ``with`` block,
    which yields the validated keep-mask; dropped blocks act as the identity.
    """
    mask = to_mask(stages, spec)
    dropped = [block for stage, stage_mask in zip(stages, mask)
               for block, keep in zip(stage.blocks, stage_mask) if not keep]
    try:
        for block in dropped:
            # An instance attribute shadows the class's ``forward``; a plain
            # function is no parameter or buffer: state dicts are untouched.
            block.forward = _identity
        yield mask
    finally:
        for block in dropped:
            block.__dict__.pop('forward', None)


@contextmanager
def frozen_bn_statistics(module: nn.Module) -> Iterator[None]:
    """Keep BN running statistics untouched inside the ``with`` block; BN
    layers in training mode still normalise with the batch statistics."""
    norms = [m for m in module.modules()
             if isinstance(m, _BatchNorm) and m.track_running_stats]
    try:
        for norm in norms:
            norm.track_running_stats = False
        yield
    finally:
        for norm in norms:
            norm.track_running_stats = True
