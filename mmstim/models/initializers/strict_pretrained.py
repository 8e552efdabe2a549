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

    Where ``Pretrained`` only warns about a checkpoint of the wrong depth,
    this raises on a missing file or any missing, unexpected or wrong-shaped
    key (:func:`~mmstim.utils.load_weights`). Unlike ``Pretrained``, it runs
    before the children's own ``init_weights`` (harmless for ResNets).

    Args:
        checkpoint (str): An MMEngine checkpoint or a bare state dict.
        prefix (str, optional): Prefix of the module's keys in the
            checkpoint; None or ``''`` loads the whole state dict.
        map_location (str): As in :func:`torch.load`.
    """

    def __init__(self, checkpoint: str, prefix: Optional[str] = 'backbone.',
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
