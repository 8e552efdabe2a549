# Copyright (c) mmstim contributors. All rights reserved.
"""mmstim: stimulative training (ST, ST++) of residual networks.

Importing the package registers its components in MMPretrain's registries
(models, hooks) and in MMEngine's root registries (model wrappers, weight
initialisers), so a config needs only
``custom_imports=dict(imports=['mmstim'], allow_failed_imports=False)``.
"""
from . import datasets, engine, models, utils  # noqa: F401
from .version import __version__, version_info

__all__ = ['__version__', 'version_info']
