# Copyright (c) mmstim contributors. All rights reserved.
from . import residual_backbones  # noqa: F401  (registers the entries)
from .resize import RandomSubnetResize
from .sampler import PAPER_RESNET50_SPACE, SubnetDraw, SubnetSampler
from .stages import (Mask, ResidualStage, SubnetSpec, find_residual_stages,
                     frozen_bn_statistics, full_mask, kept_depths,
                     register_residual_stages, run_as_subnet, stage_depths,
                     supported_backbones, to_mask)

__all__ = [
    'RandomSubnetResize', 'SubnetSampler', 'SubnetDraw',
    'PAPER_RESNET50_SPACE', 'Mask', 'ResidualStage', 'SubnetSpec',
    'find_residual_stages', 'frozen_bn_statistics', 'full_mask',
    'kept_depths', 'register_residual_stages', 'run_as_subnet',
    'stage_depths', 'supported_backbones', 'to_mask'
]
