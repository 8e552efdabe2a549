# Copyright (c) mmstim contributors. All rights reserved.
from typing import Optional

import torch.nn as nn
from mmengine.logging import print_log
from mmengine.model.weight_init import update_init_info
from mmengine.registry import WEIGHT_INITIALIZERS

from mmstim.utils.model_converters import (compare_state_dicts,
                                           format_mismatch, get_state_dict,
                                           load_checkpoint, select_prefix)


@WEIGHT_INITIALIZERS.register_module(name='StrictPretrained')
class StrictPretrainedInit:
    """Initialise a module from a checkpoint, refusing any mismatch.

    MMEngine's ``Pretrained`` initialiser loads with ``strict=False``: a
    checkpoint of the wrong depth or with renamed keys only logs a warning
    and leaves the module randomly initialised. This initialiser loads with
    ``torch.load(..., weights_only=True)``, takes the keys under ``prefix``
    and raises unless they match the module's state dict exactly (names and
    shapes).

    Note:
        MMEngine's ``BaseModule.init_weights`` defers only ``Pretrained`` to
        after the children's own ``init_weights``; this initialiser runs
        before them. That is harmless for ResNet backbones, whose children
        do not re-initialise themselves, and a backbone whose children do
        (e.g. deformable convolutions' offsets) has keys that an ImageNet
        checkpoint lacks, which this initialiser reports.

    Args:
        checkpoint (str): Path of the checkpoint: an MMEngine checkpoint
            (weights under ``state_dict``) or a bare state dict.
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
        self.checkpoint = checkpoint
        self.prefix = prefix
        self.map_location = map_location

    def __call__(self, module: nn.Module) -> None:
        """Load the checkpoint into ``module``.

        Args:
            module (nn.Module): The module to initialise.

        Raises:
            FileNotFoundError: The checkpoint file does not exist.
            ValueError: No checkpoint key starts with ``prefix``.
            RuntimeError: The checkpoint cannot be loaded with
                ``weights_only=True``, or its keys under ``prefix`` are
                missing, unexpected or of the wrong shape for ``module``.
        """
        state_dict = self.load_state_dict()
        self.check(module, state_dict)
        module.load_state_dict(state_dict, strict=True)
        print_log(
            f'{type(module).__name__}: loaded all {len(state_dict)} weights '
            f'under {self.prefix!r} from {self.checkpoint}',
            logger='current')
        if hasattr(module, '_params_init_info'):
            update_init_info(module, init_info=self._get_init_info())

    def load_state_dict(self) -> dict:
        """The checkpoint's weights under ``prefix``, prefix removed.

        Returns:
            OrderedDict[str, Tensor]: The weights.
        """
        checkpoint = load_checkpoint(
            self.checkpoint, map_location=self.map_location)
        try:
            return select_prefix(get_state_dict(checkpoint), self.prefix)
        except ValueError as error:
            raise ValueError(f'StrictPretrained: {self.checkpoint!r}: '
                             f'{error}') from error

    def check(self, module: nn.Module, state_dict: dict) -> None:
        """Raise unless ``state_dict`` matches ``module`` exactly.

        Args:
            module (nn.Module): The module to initialise.
            state_dict (dict): The weights to load into it.

        Raises:
            RuntimeError: Some keys are missing, unexpected or of the wrong
                shape.
        """
        mismatch = format_mismatch(
            *compare_state_dicts(module.state_dict(), state_dict))
        if mismatch:
            raise RuntimeError(
                f'StrictPretrained: the weights under {self.prefix!r} in '
                f'{self.checkpoint!r} do not match '
                f'{type(module).__name__}:\n{mismatch}')

    def _get_init_info(self) -> str:
        return f'{type(self).__name__}: load from {self.checkpoint}'
