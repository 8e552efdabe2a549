# Copyright (c) mmstim contributors. All rights reserved.
from .checkpoint import (from_weights_only_safe, get_state_dict,
                         load_checkpoint_file, load_weights,
                         register_safe_checkpoint_loader, to_weights_only_safe)
from .env import check_mmcv, collect_versions

__all__ = [
    'check_mmcv', 'collect_versions', 'from_weights_only_safe',
    'get_state_dict', 'load_checkpoint_file', 'load_weights',
    'register_safe_checkpoint_loader', 'to_weights_only_safe'
]
