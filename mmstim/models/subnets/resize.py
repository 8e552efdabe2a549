# Copyright (c) mmstim contributors. All rights reserved.
import math
from typing import List, Optional, Sequence

import torch
import torch.nn.functional as F
from mmpretrain.registry import MODELS


@MODELS.register_module()
class RandomSubnetResize:
    """Random smaller inputs for the subnets of ST++.

    Works on the already normalised batch tensor, on its device. Each subnet
    sees the original batch resized to a side ``s`` chosen uniformly among
    the integers in ``[round(min_scale * H), H]`` (or among ``sizes``); the
    choice comes from a uniform number drawn by the subnet sampler, so it is
    a pure function of the seed and the iteration. The batch is never
    normalised again and never resized twice.

    Args:
        min_scale (float): Smallest side as a fraction of the input side,
            in (0, 1]. Defaults to 0.43 (the published ST++ value).
        sizes (Sequence[int], optional): A fixed list of sides to choose
            from instead. Defaults to None.
        shared (bool): One side for all subnets of an iteration (the first
            subnet's). Defaults to False.
        size_divisor (int): Only sides that are multiples of it, e.g. 16
            for a ViT of patch 16 (whole patches). Swin needs
            ``pad_small_map=True`` in its backbone for smaller inputs:
            without it, Swin refuses feature maps smaller than its window
            (Swin-T accepts no side below 224); with it, every side runs,
            and 32 (patch 4, three patch mergings) avoids padding the
            merged maps. Defaults to 1.
        mode (str): Interpolation mode. Defaults to ``'bilinear'``.
        antialias (bool): Anti-aliasing when down-sampling. Defaults to True.

    Examples:
        >>> resize = RandomSubnetResize(min_scale=0.5)
        >>> resize.choose_sides([0.0, 0.999], height=224)
        [112, 224]
        >>> resize(torch.rand(2, 3, 224, 224), 112).shape
        torch.Size([2, 3, 112, 112])
    """

    def __init__(self,
                 min_scale: float = 0.43,
                 sizes: Optional[Sequence[int]] = None,
                 shared: bool = False,
                 size_divisor: int = 1,
                 mode: str = 'bilinear',
                 antialias: bool = True):
        if not 0 < min_scale <= 1:
            raise ValueError(
                f'min_scale must be in (0, 1], got {min_scale}.')
        if sizes is not None:
            sizes = [int(s) for s in sizes]
            if not sizes or min(sizes) < 1:
                raise ValueError(
                    f'sizes must be a non-empty list of positive sides, got '
                    f'{sizes}.')
        if not isinstance(size_divisor, int) or size_divisor < 1:
            raise ValueError(f'size_divisor must be a positive integer, got '
                             f'{size_divisor!r}.')
        if sizes is not None and any(s % size_divisor for s in sizes):
            raise ValueError(f'sizes {sizes} are not all multiples of '
                             f'size_divisor={size_divisor}.')
        self.min_scale = min_scale
        self.sizes = sizes
        self.size_divisor = size_divisor
        self.shared = shared
        self.mode = mode
        self.antialias = antialias

    def side_range(self, height: int) -> List[int]:
        """All sides that may be chosen for inputs of the given side."""
        if self.sizes is not None:
            return list(self.sizes)
        low = max(1, int(round(self.min_scale * height)))
        sides = [s for s in range(low, height + 1)
                 if s % self.size_divisor == 0]
        if not sides:
            raise ValueError(
                f'No side in [{low}, {height}] is a multiple of '
                f'size_divisor={self.size_divisor}: lower min_scale or the '
                f'divisor, or use larger inputs.')
        return sides

    def choose_sides(self, resize_us: Sequence[float],
                     height: int) -> List[int]:
        """Map the sampler's uniform numbers to input sides.

        Args:
            resize_us (Sequence[float]): One number in [0, 1) per subnet.
            height (int): Side (height) of the original input.

        Returns:
            list[int]: The side for every subnet.
        """
        if self.shared and resize_us:
            resize_us = [resize_us[0]] * len(resize_us)
        candidates = self.side_range(height)
        return [
            candidates[min(int(math.floor(u * len(candidates))),
                           len(candidates) - 1)] for u in resize_us
        ]

    def __call__(self, inputs: torch.Tensor, side: int) -> torch.Tensor:
        """Resize a batch (N, C, H, W) to side ``side``.

        The height becomes ``side`` and the width keeps the aspect ratio
        (square inputs give ``side x side``); an input already of that size
        is returned unchanged.
        """
        height, width = inputs.shape[-2:]
        new_size = (side, max(1, int(round(side * width / height))))
        if new_size == (height, width):
            return inputs
        return F.interpolate(
            inputs,
            size=new_size,
            mode=self.mode,
            align_corners=False if self.mode in ('bilinear',
                                                 'bicubic') else None,
            antialias=self.antialias)

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(min_scale={self.min_scale}, '
                f'sizes={self.sizes}, shared={self.shared}, '
                f'size_divisor={self.size_divisor}, '
                f'mode={self.mode!r}, antialias={self.antialias})')
