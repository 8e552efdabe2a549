# Copyright (c) mmstim contributors. All rights reserved.
from .backbones import AnyDepthResNet
from .classifiers import StimulativeClassifier
from .initializers import StrictPretrainedInit
from .losses import KLDirectionLoss
from .subnets import RandomSubnetResize, SubnetSampler
from .wrappers import StimulativeDDP

__all__ = [
    'AnyDepthResNet', 'StimulativeClassifier', 'KLDirectionLoss',
    'RandomSubnetResize', 'SubnetSampler', 'StimulativeDDP',
    'StrictPretrainedInit'
]
