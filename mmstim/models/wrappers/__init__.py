# Copyright (c) mmstim contributors. All rights reserved.
from .stimulative_ddp import StimulativeDDP

__all__ = ['StimulativeDDP']
