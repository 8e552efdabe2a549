# Copyright (c) mmstim contributors. All rights reserved.
from .classifiers import StimulativeClassifier
from .losses import KLDirectionLoss
from .subnets import RandomSubnetResize, SubnetSampler
from .wrappers import StimulativeDDP

__all__ = [
    'StimulativeClassifier', 'KLDirectionLoss', 'RandomSubnetResize',
    'SubnetSampler', 'StimulativeDDP'
]
from .initializers import StrictPretrainedInit  # noqa: E402

__all__ += ['StrictPretrainedInit']
