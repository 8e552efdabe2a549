# Copyright (c) mmstim contributors. All rights reserved.
from typing import Sequence

from mmpretrain.models.backbones import MobileNetV2
from mmpretrain.registry import MODELS


@MODELS.register_module()
class AnyDepthMobileNetV2(MobileNetV2):
    """A MobileNetV2 with any number of inverted residuals per layer.

    MMPretrain's ``MobileNetV2`` has one fixed ``arch_settings`` (blocks
    1, 2, 3, 4, 3, 3, 1 in ``layer1`` to ``layer7``). This builds the same
    network with ``num_blocks[i]`` blocks in ``layer{i + 1}``, with the same
    key names, so the kept blocks of a trained MobileNetV2 load into it as
    they are.

    Args:
        num_blocks (Sequence[int]): Blocks of each of the 7 layers.
        **kwargs: Other arguments of ``MobileNetV2``.

    Examples:
        >>> backbone = AnyDepthMobileNetV2(num_blocks=(1, 1, 2, 2, 1, 1, 1))
        >>> len(backbone.layer4)
        2
    """

    def __init__(self, num_blocks: Sequence[int], **kwargs):
        num_blocks = tuple(num_blocks)
        if len(num_blocks) != len(MobileNetV2.arch_settings) or not all(
                isinstance(n, int) and n >= 1 for n in num_blocks):
            raise ValueError(
                f'AnyDepthMobileNetV2: num_blocks must be '
                f'{len(MobileNetV2.arch_settings)} positive integers, got '
                f'{num_blocks}.')
        # The instance's arch_settings shadows the class's during __init__.
        object.__setattr__(self, 'arch_settings', [
            [expand, channels, blocks, stride]
            for (expand, channels, _, stride), blocks in zip(
                MobileNetV2.arch_settings, num_blocks)
        ])
        super().__init__(**kwargs)
