# Copyright (c) mmstim contributors. All rights reserved.
from .strict_pretrained import StrictPretrainedInit

__all__ = ['StrictPretrainedInit']
