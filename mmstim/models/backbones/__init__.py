# Copyright (c) mmstim contributors. All rights reserved.
from .any_depth_mobilenet_v2 import AnyDepthMobileNetV2
from .any_depth_regnet import AnyDepthRegNet
from .any_depth_resnet import AnyDepthResNet

__all__ = ['AnyDepthResNet', 'AnyDepthRegNet', 'AnyDepthMobileNetV2']
