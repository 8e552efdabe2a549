# Copyright (c) mmstim contributors. All rights reserved.
from typing import Sequence

from mmpretrain.models.backbones import ResNet
from mmpretrain.registry import MODELS


@MODELS.register_module()
def AnyDepthResNet(stage_blocks: Sequence[int], arch: str = 'ResNet',
                   depth: int = 50, **kwargs) -> ResNet:
    """A ResNet-family backbone with any number of blocks per stage.

    Builds the parent ``arch`` with the block type of its ``depth`` and
    ``stage_blocks[i]`` blocks in stage ``i``: an instance of the parent
    class with its key names, so exported subnets load like any MMPretrain
    ResNet (MMDet: ``type='mmpretrain.AnyDepthResNet'``).

    Args:
        stage_blocks (Sequence[int]): Blocks per stage (1 to 4 stages).
        arch (str): The parent, a registered subclass of MMPretrain's
            ``ResNet`` (e.g. ``ResNetV1d``, ``ResNeXt``, ``ResNet_CIFAR``).
        depth (int): The parent depth whose block type is used.
        **kwargs: Other arguments of the parent, e.g. ``base_channels``.
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
