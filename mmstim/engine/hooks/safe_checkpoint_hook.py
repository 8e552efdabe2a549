# Copyright (c) mmstim contributors. All rights reserved.
from mmengine.hooks import Hook
from mmpretrain.registry import HOOKS

from mmstim.utils.checkpoint import (from_weights_only_safe,
                                     to_weights_only_safe)


@HOOKS.register_module()
class SafeCheckpointHook(Hook):
    """Save checkpoints that load with ``torch.load(weights_only=True)``.

    Its ``HistoryBuffer`` and numpy objects are stored as tensors by
    :func:`~mmstim.utils.to_weights_only_safe` and rebuilt exactly on load,
    before ``Runner.resume`` restores the message hub. The lowest priority
    converts what other hooks added.
    """

    priority = 'LOWEST'

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        checkpoint.update(to_weights_only_safe(checkpoint))

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        checkpoint.update(from_weights_only_safe(checkpoint))
