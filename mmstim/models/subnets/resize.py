# Copyright (c) mmstim contributors. All rights reserved.
import math
from typing import List, Optional, Sequence

import torch
import torch.nn.functional as F
from mmpretrain.registry import MODELS


@MODELS.register_module()
class RandomSubnetResize:
    """Random smaller inputs for the subnets of ST++.

    Resizes the normalised batch, on its device, once per subnet, to a side
    chosen uniformly among the integers in ``[round(min_scale * H), H]`` (or
    ``sizes``) by the subnet sampler's uniform number.

    Args:
        min_scale (float): Smallest side as a fraction of the input side,
            in (0, 1]; 0.43 is the published ST++ value.
        sizes (Sequence[int], optional): A fixed list of sides instead.
        shared (bool): The first subnet's side for all of an iteration.
        size_divisor (int): Only sides that are multiples of it, e.g. 16
            for a ViT of patch 16. Swin refuses maps smaller than its
            window unless its backbone sets ``pad_small_map=True``; 32 then
            avoids padding the merged maps.
        mode (str): Interpolation mode.
        antialias (bool): Anti-aliasing when down-sampling.
    """

    def __init__(self, min_scale: float = 0.43,
                 sizes: Optional[Sequence[int]] = None, shared: bool = False,
                 size_divisor: int = 1, mode: str = 'bilinear',
                 antialias: bool = True):
        if not 0 < min_scale <= 1:
            raise ValueError(f'min_scale must be in (0, 1], got {min_scale}.')
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
        """Map the sampler's uniform numbers (one per subnet) to the input
        sides of the subnets for inputs of side ``height``."""
        if self.shared and resize_us:
            resize_us = [resize_us[0]] * len(resize_us)
        candidates = self.side_range(height)
        return [
            candidates[min(int(math.floor(u * len(candidates))),
                           len(candidates) - 1)] for u in resize_us
        ]

    def __call__(self, inputs: torch.Tensor, side: int) -> torch.Tensor:
        """Resize a batch (N, C, H, W) to height ``side``, keeping the
        aspect ratio; an input already of that size is returned as is."""
        height, width = inputs.shape[-2:]
        new_size = (side, max(1, int(round(side * width / height))))
        if new_size == (height, width):
            return inputs
        align_corners = False if self.mode in ('bilinear', 'bicubic') else None
        return F.interpolate(
            inputs, size=new_size, mode=self.mode,
            align_corners=align_corners, antialias=self.antialias)

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(min_scale={self.min_scale}, '
                f'sizes={self.sizes}, shared={self.shared}, '
                f'size_divisor={self.size_divisor}, '
                f'mode={self.mode!r}, antialias={self.antialias})')
