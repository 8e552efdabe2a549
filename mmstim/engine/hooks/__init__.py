# Copyright (c) mmstim contributors. All rights reserved.
from .epoch_seeds_hook import EpochSeedsHook
from .safe_checkpoint_hook import SafeCheckpointHook
from .subnet_sampling_hook import (SubnetSamplingHook, build_subnet_sampler,
                                   hooks_without_sampling, list_draws,
                                   sampling_hook_config, stimulative_model)
from .training_clock_hook import TrainingClockHook

__all__ = [
    'EpochSeedsHook', 'SafeCheckpointHook', 'SubnetSamplingHook',
    'TrainingClockHook', 'build_subnet_sampler', 'hooks_without_sampling',
    'list_draws', 'sampling_hook_config', 'stimulative_model'
]
