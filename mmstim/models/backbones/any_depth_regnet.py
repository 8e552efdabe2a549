# Copyright (c) mmstim contributors. All rights reserved.
from typing import List, Sequence, Tuple

from mmpretrain.models.backbones import RegNet
from mmpretrain.registry import MODELS


@MODELS.register_module()
class AnyDepthRegNet(RegNet):
    """A RegNet with any number of blocks per stage.

    MMPretrain's ``RegNet`` derives its blocks per stage from ``arch``
    (``w0``, ``wa``, ``wm``, ``depth``), so a RegNet with some blocks
    removed has no ``arch`` of its own. This keeps the widths and groups of
    ``arch`` and builds ``stage_blocks[i]`` blocks in stage ``i``, with
    ``RegNet``'s key names: the kept blocks of a trained RegNet load into it
    as they are.

    Args:
        arch (str | dict): The RegNet whose widths are used, as in
            ``RegNet``.
        stage_blocks (Sequence[int]): Blocks per stage, one per stage of
            ``arch``.
        **kwargs: Other arguments of ``RegNet``.

    Examples:
        >>> backbone = AnyDepthRegNet(
        ...     'regnetx_400mf', stage_blocks=(1, 1, 3, 2))
        >>> backbone.stage_blocks
        [1, 1, 3, 2]
    """

    def __init__(self, arch, stage_blocks: Sequence[int], **kwargs):
        # read by get_stages_from_blocks during RegNet.__init__
        object.__setattr__(self, 'kept_stage_blocks', tuple(stage_blocks))
        super().__init__(arch, **kwargs)

    def get_stages_from_blocks(self,
                               widths: list) -> Tuple[List[int], List[int]]:
        """The widths of ``arch``'s stages with ``stage_blocks`` blocks."""
        stage_widths, stage_blocks = super().get_stages_from_blocks(widths)
        if len(self.kept_stage_blocks) != len(stage_blocks) or not all(
                isinstance(n, int) and n >= 1
                for n in self.kept_stage_blocks):
            raise ValueError(
                f'AnyDepthRegNet: stage_blocks must be {len(stage_blocks)} '
                f'positive integers (one per stage of the arch), got '
                f'{self.kept_stage_blocks}.')
        return stage_widths, list(self.kept_stage_blocks)
