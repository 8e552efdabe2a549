# Copyright (c) mmstim contributors. All rights reserved.
from .safe_checkpoint_hook import SafeCheckpointHook
from .subnet_sampling_hook import (SubnetSamplingHook, build_subnet_sampler,
                                   list_draws, stimulative_model)

__all__ = [
    'SafeCheckpointHook', 'SubnetSamplingHook', 'build_subnet_sampler',
    'list_draws', 'stimulative_model'
]
