# Copyright (c) mmstim contributors. All rights reserved.
from .safe_checkpoint_hook import SafeCheckpointHook
from .subnet_sampling_hook import SubnetSamplingHook

__all__ = ['SafeCheckpointHook', 'SubnetSamplingHook']
