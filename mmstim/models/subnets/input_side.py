# Copyright (c) mmstim contributors. All rights reserved.
"""The smallest input side a backbone takes, and a clear error below it.

ST++ feeds its subnets smaller inputs (``RandomSubnetResize``). Below a
family's smallest side torch fails deep inside the backbone (ConvNeXt's
4-pixel patch stem below 32 px: "Kernel size can't be greater than actual
input size"); :func:`check_sides` names the side that works and the
setting to change instead.
"""
from typing import Optional, Sequence

import torch
import torch.nn as nn

#: Errors a backbone raises on inputs that are too small.
TOO_SMALL = (RuntimeError, ValueError, AssertionError, IndexError)


def input_channels(backbone: nn.Module) -> int:
    """Channels of the backbone's first convolution (3 without one)."""
    conv = next((m for m in backbone.modules()
                 if isinstance(m, nn.modules.conv._ConvNd)), None)
    return conv.in_channels if conv is not None else 3


def _runs(backbone: nn.Module, side: int, channels: int) -> bool:
    parameter = next(backbone.parameters(), None)
    inputs = torch.zeros(
        1, channels, side, side,
        dtype=parameter.dtype if parameter is not None else torch.float32,
        device=parameter.device if parameter is not None else 'cpu')
    try:
        backbone(inputs)
        return True
    except TOO_SMALL:
        return False


def smallest_input_side(backbone: nn.Module, limit: int = 4096) -> int:
    """The smallest square input side the backbone runs on.

    Found by forward passes in eval mode without gradients (running
    statistics are not touched): doubling, then bisection, so about
    ``2 * log2(side)`` passes on tiny inputs.

    Args:
        backbone (nn.Module): The backbone.
        limit (int): Largest side tried. Defaults to 4096.

    Returns:
        int: The side.

    Raises:
        ValueError: No side up to ``limit`` runs.
    """
    channels = input_channels(backbone)
    was_training = backbone.training
    backbone.eval()
    try:
        with torch.no_grad():
            high = 1
            while not _runs(backbone, high, channels):
                if high >= limit:
                    raise ValueError(
                        f'{type(backbone).__name__} runs on no input side up '
                        f'to {limit}.')
                high = min(2 * high, limit)
            low = high // 2  # does not run (or is 0)
            while high - low > 1:
                middle = (low + high) // 2
                if _runs(backbone, middle, channels):
                    high = middle
                else:
                    low = middle
            return high
    finally:
        backbone.train(was_training)


def check_sides(backbone_name: str, smallest: int, height: int,
                sides: Sequence[int], resize: Optional[object]) -> None:
    """Refuse subnet input sides below the backbone's smallest side.

    Args:
        backbone_name (str): For the message.
        smallest (int): :func:`smallest_input_side` of the backbone.
        height (int): Side of the main inputs.
        sides (Sequence[int]): The sides the subnets may get.
        resize (RandomSubnetResize, optional): The transform choosing them.

    Raises:
        ValueError: The main input or a subnet side is too small.
    """
    if height < smallest:
        raise ValueError(
            f'Inputs of side {height} px are smaller than the smallest side '
            f'{backbone_name} takes ({smallest} px): use larger inputs or a '
            f'backbone with a smaller stem (e.g. stem_patch_size).')
    too_small = [side for side in sides if side < smallest]
    if not too_small:
        return
    if getattr(resize, 'sizes', None) is not None:
        setting = (f'give subnet_resize.sizes of at least {smallest} px '
                   f'(now {list(resize.sizes)})')
    else:
        setting = (f'set subnet_resize.min_scale to at least '
                   f'{smallest / height:.3g} ({smallest}/{height}; now '
                   f'{getattr(resize, "min_scale", None)})')
    raise ValueError(
        f'RandomSubnetResize gives subnet inputs of {min(too_small)} px '
        f'for {height}-px inputs, but {backbone_name} takes no side below '
        f'{smallest} px: {setting}.')
