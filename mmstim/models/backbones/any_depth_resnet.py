# Copyright (c) mmstim contributors. All rights reserved.
from typing import Sequence

from mmpretrain.models.backbones import ResNet
from mmpretrain.registry import MODELS


@MODELS.register_module()
def AnyDepthResNet(stage_blocks: Sequence[int],
                   arch: str = 'ResNet',
                   depth: int = 50,
                   **kwargs) -> ResNet:
    """A ResNet-family backbone with any number of blocks per stage.

    MMPretrain's ``ResNet`` and its variants know only the depths of their
    ``arch_settings`` (18, 34, 50, 101, 152). This builds the backbone
    ``arch`` with the blocks of its ``depth`` (``BasicBlock`` for 18 and
    34, ``Bottleneck`` otherwise) and ``stage_blocks[i]`` blocks in stage
    ``i``; everything else (stem, channels, strides, norms) is the parent's.
    The result is an instance of the parent class with the parent's key
    names, so an exported subnet or a deep CIFAR-style ResNet loads and
    trains like any MMPretrain ResNet, and MMDet uses it as
    ``type='mmpretrain.AnyDepthResNet'``.

    Args:
        stage_blocks (Sequence[int]): Blocks per stage; its length is the
            number of stages (``num_stages``).
        arch (str): The parent backbone, a registered subclass of
            MMPretrain's ``ResNet`` (``ResNet``, ``ResNetV1c``, ``ResNetV1d``,
            ``ResNeXt``, ``SEResNet``, ``SEResNeXt``, ``ResNet_CIFAR``).
            Defaults to ``'ResNet'``.
        depth (int): The parent depth whose block type is used.
            Defaults to 50.
        **kwargs: Other arguments of the parent, e.g. ``base_channels``.

    Returns:
        ResNet: The backbone.

    Examples:
        >>> # ResNet-50 with stages of 3, 3, 4 and 3 bottlenecks
        >>> backbone = AnyDepthResNet(stage_blocks=(3, 3, 4, 3))
        >>> # CIFAR-style ResNet-56: 3 stages of 9 basic blocks, 16-64 channels
        >>> resnet56 = AnyDepthResNet(
        ...     arch='ResNet_CIFAR', depth=18, stage_blocks=(9, 9, 9),
        ...     num_stages=3, base_channels=16, stem_channels=16,
        ...     strides=(1, 2, 2), dilations=(1, 1, 1), out_indices=(2, ))
    """
    parent = MODELS.get(arch)
    if not (isinstance(parent, type) and issubclass(parent, ResNet)):
        raise TypeError(f'AnyDepthResNet: arch={arch!r} is not a registered '
                        f'subclass of MMPretrain\'s ResNet.')
    if depth not in parent.arch_settings:
        raise ValueError(f'AnyDepthResNet: {arch} has no depth {depth}; its '
                         f'depths are {sorted(parent.arch_settings)}.')
    stage_blocks = tuple(stage_blocks)
    if not 1 <= len(stage_blocks) <= 4 or not all(
            isinstance(n, int) and n >= 1 for n in stage_blocks):
        raise ValueError(f'AnyDepthResNet: stage_blocks must be 1 to 4 '
                         f'positive integers, got {stage_blocks}.')
    kwargs.setdefault('num_stages', len(stage_blocks))
    if kwargs['num_stages'] != len(stage_blocks):
        raise ValueError(f'AnyDepthResNet: num_stages={kwargs["num_stages"]}'
                         f' but stage_blocks has {len(stage_blocks)} stages.')
    block = parent.arch_settings[depth][0]
    backbone = parent.__new__(parent)
    # The instance's own arch_settings shadows the class's: the parent's
    # __init__ then builds ``stage_blocks`` blocks of the same type.
    backbone.arch_settings = {depth: (block, stage_blocks)}
    parent.__init__(backbone, depth=depth, **kwargs)
    return backbone
