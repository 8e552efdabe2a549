# Copyright (c) mmstim contributors. All rights reserved.
"""Residual stages of a backbone, subnet specifications and running a subnet.

A *subnet* keeps, in every residual stage, a subset of that stage's blocks.
It is written as one keep-mask per stage (``((True, True, False), ...)``);
a tuple of kept depths such as ``(3, 3, 4, 3)`` is shorthand for "keep the
first d blocks of each stage". Only blocks whose output is ``x + f(x)``
with an identity shortcut may be dropped (a dropped block returns its
input), and a stage's first block never is, so every stage keeps at least
one block.

Which backbones have residual stages is an extension point: a function
registered with :func:`register_residual_stages` lists the stages of a
backbone class and its subclasses (see ``residual_backbones.py``).
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
    """The blocks of one residual stage and which of them may be dropped.

    Args:
        name (str): Name of the stage in the backbone, e.g. ``'layer1'`` or
            ``'stages.0.blocks'``.
        blocks (list[nn.Module]): The stage's blocks, in order.
        identity_shortcut (Sequence[bool]): Per block, whether its output is
            ``x + f(x)`` with an identity shortcut. Defaults to a ResNet
            block's rule: no ``downsample`` module.
    """

    def __init__(self, name: str, blocks: List[nn.Module],
                 identity_shortcut: Sequence[bool] = None):
        self.name = name
        self.blocks = blocks
        if identity_shortcut is None:
            identity_shortcut = [
                getattr(block, 'downsample', None) is None for block in blocks
            ]
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
    """Register the function that lists the residual stages of backbones.

    The function applies to the given classes and their subclasses (the
    most specific registered class wins).

    Examples:
        >>> @register_residual_stages(MyBackbone)
        ... def my_backbone_stages(backbone):
        ...     return [ResidualStage(f'stages.{i}', list(stage),
        ...                           [True] * len(stage))
        ...             for i, stage in enumerate(backbone.stages)]
    """

    def register(stages_of: StagesOf) -> StagesOf:
        for backbone_type in backbone_types:
            _STAGES_OF[backbone_type] = stages_of
        return stages_of

    return register


def supported_backbones() -> List[str]:
    """Names of the backbone classes with registered residual stages."""
    return sorted(cls.__name__ for cls in _STAGES_OF)


def find_residual_stages(backbone: nn.Module) -> List[ResidualStage]:
    """List the residual stages of a backbone.

    Args:
        backbone (nn.Module): A backbone whose class (or a parent class) is
            registered with :func:`register_residual_stages`.

    Returns:
        list[ResidualStage]: One entry per stage, in forward order.

    Raises:
        TypeError: The backbone is not of a supported type.
    """
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


def _identity(x, *args, **kwargs):
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
