# Copyright (c) mmstim contributors. All rights reserved.
from .any_depth_resnet import AnyDepthResNet

__all__ = ['AnyDepthResNet']
