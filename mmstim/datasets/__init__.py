# Copyright (c) mmstim contributors. All rights reserved.
from .transforms import ClippedLighting

__all__ = ['ClippedLighting']
