# Copyright (c) mmstim contributors. All rights reserved.
from .kl_direction import KLDirectionLoss

__all__ = ['KLDirectionLoss']
