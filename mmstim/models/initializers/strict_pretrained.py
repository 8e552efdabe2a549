# Copyright (c) mmstim contributors. All rights reserved.
from typing import Optional

import torch.nn as nn
from mmengine.logging import print_log
from mmengine.model.weight_init import PretrainedInit, update_init_info
from mmengine.registry import WEIGHT_INITIALIZERS

from mmstim.utils.checkpoint import load_weights


@WEIGHT_INITIALIZERS.register_module(name='StrictPretrained')
class StrictPretrainedInit(PretrainedInit):
    """MMEngine's ``Pretrained``, but strict and ``weights_only``.

    ``Pretrained`` loads with ``strict=False``: a checkpoint of the wrong
    depth only logs a warning and leaves the module randomly initialised.
    This initialiser loads with :func:`~mmstim.utils.load_weights`
    (``torch.load(weights_only=True)``, ``load_state_dict(strict=True)``)
    and raises on a missing file or any missing, unexpected or wrong-shaped
    key, naming the checkpoint.

    Note:
        MMEngine's ``BaseModule.init_weights`` defers only ``Pretrained``
        until after the children's own ``init_weights``; this one runs
        before them, which is harmless for ResNet backbones.

    Args:
        checkpoint (str): An MMEngine checkpoint or a bare state dict.
        prefix (str, optional): Prefix of the module's keys in the
            checkpoint, removed before loading. None or ``''`` loads the
            whole state dict, e.g. a file written by ``extract_backbone.py``.
            Defaults to ``'backbone.'``.
        map_location (str): As in :func:`torch.load`. Defaults to ``'cpu'``.

    Examples:
        >>> backbone = dict(
        ...     type='ResNet',
        ...     depth=50,
        ...     init_cfg=dict(
        ...         type='StrictPretrained',
        ...         checkpoint='work_dirs/resnet50_stim_imagenet/'
        ...         'epoch_200.pth'))
    """

    def __init__(self,
                 checkpoint: str,
                 prefix: Optional[str] = 'backbone.',
                 map_location: str = 'cpu'):
        super().__init__(checkpoint, prefix, map_location)

    def __call__(self, module: nn.Module) -> None:
        load_weights(module, self.checkpoint, self.prefix, self.map_location)
        print_log(
            f'{type(module).__name__}: loaded all weights under '
            f'{self.prefix!r} from {self.checkpoint}',
            logger='current')
        if hasattr(module, '_params_init_info'):
            update_init_info(module, init_info=self._get_init_info())
