# Copyright (c) mmstim contributors. All rights reserved.
from .resize import RandomSubnetResize
from .sampler import PAPER_RESNET50_SPACE, SubnetDraw, SubnetSampler
from .stages import (SUPPORTED_BACKBONES, Mask, ResidualStage, SubnetSpec,
                     find_residual_stages, frozen_bn_statistics, full_mask,
                     kept_depths, run_as_subnet, stage_depths, to_mask)

__all__ = [
    'RandomSubnetResize', 'SubnetSampler', 'SubnetDraw',
    'PAPER_RESNET50_SPACE', 'SUPPORTED_BACKBONES', 'Mask', 'ResidualStage',
    'SubnetSpec', 'find_residual_stages', 'frozen_bn_statistics',
    'full_mask', 'kept_depths', 'run_as_subnet', 'stage_depths', 'to_mask'
]
