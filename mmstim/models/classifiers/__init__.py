# Copyright (c) mmstim contributors. All rights reserved.
from .stimulative import StimulativeClassifier

__all__ = ['StimulativeClassifier']
