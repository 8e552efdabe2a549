# Copyright (c) mmstim contributors. All rights reserved.
from mmengine.hooks import Hook
from mmpretrain.registry import HOOKS

from mmstim.utils.checkpoint import (find_unsafe_objects,
                                     from_weights_only_safe,
                                     to_weights_only_safe)


@HOOKS.register_module()
class SafeCheckpointHook(Hook):
    """Save checkpoints that load with ``torch.load(weights_only=True)``.

    Before a checkpoint is written, the ``HistoryBuffer`` and numpy objects
    anywhere in it (MMEngine keeps them in ``message_hub`` and ``meta``) are
    converted by :func:`~mmstim.utils.to_weights_only_safe`; after one is
    loaded, they are rebuilt exactly, before ``Runner.resume`` restores the
    message hub from them.

    The hook has the lowest priority, so it converts what every other hook
    (e.g. ``EMAHook``) added in ``before_save_checkpoint``. In
    ``after_load_checkpoint`` other hooks therefore see the converted form,
    unless the file was loaded by the loader of
    :func:`~mmstim.utils.register_safe_checkpoint_loader`, which rebuilds it
    already.

    Args:
        strict (bool): Raise if a checkpoint still holds objects that
            ``weights_only`` loading refuses after the conversion, instead
            of logging a warning. Defaults to False.
    """

    priority = 'LOWEST'

    def __init__(self, strict: bool = False):
        self.strict = strict

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        """Convert the checkpoint in place into the safe form.

        Args:
            runner (Runner): The runner of the training process.
            checkpoint (dict): The checkpoint about to be saved.

        Raises:
            TypeError: ``strict`` is True and objects remain unsafe.
        """
        for key in list(checkpoint):
            checkpoint[key] = to_weights_only_safe(checkpoint[key])
        unsafe = find_unsafe_objects(checkpoint)
        if not unsafe:
            return
        message = ('The checkpoint holds objects that torch.load('
                   'weights_only=True) refuses, so it will load only with '
                   'trust=True: ' + '; '.join(unsafe))
        if self.strict:
            raise TypeError(message)
        runner.logger.warning(message)

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        """Rebuild the converted objects of the checkpoint in place.

        Args:
            runner (Runner): The runner that loads the checkpoint.
            checkpoint (dict): The loaded checkpoint.
        """
        for key in list(checkpoint):
            checkpoint[key] = from_weights_only_safe(checkpoint[key])
