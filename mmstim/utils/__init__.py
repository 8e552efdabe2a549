# Copyright (c) mmstim contributors. All rights reserved.
from .checkpoint import (UnsafeCheckpointError, find_unsafe_objects,
                         from_weights_only_safe, load_checkpoint_file,
                         register_safe_checkpoint_loader, to_weights_only_safe)
from .env import check_mmcv, collect_versions

__all__ = [
    'check_mmcv', 'collect_versions', 'UnsafeCheckpointError',
    'find_unsafe_objects', 'from_weights_only_safe', 'load_checkpoint_file',
    'register_safe_checkpoint_loader', 'to_weights_only_safe'
]
