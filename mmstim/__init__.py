# Copyright (c) mmstim contributors. All rights reserved.
"""mmstim: stimulative training (ST, ST++) of residual networks. Importing it
registers its components, so a config needs only ``custom_imports``."""
from . import datasets, engine, models, utils  # noqa: F401
from .version import __version__, version_info

__all__ = ['__version__', 'version_info']
