# Copyright (c) mmstim contributors. All rights reserved.
"""The residual stages of MMPretrain's backbones. Stems, downsampling layers
and blocks that change the shape are never dropped."""
from typing import List

from mmpretrain.models.backbones import (ConvNeXt, MobileNetV2, ResNet,
                                         SwinTransformer, VisionTransformer)

from .stages import ResidualStage, register_residual_stages


@register_residual_stages(ResNet)
def resnet_stages(backbone: ResNet) -> List[ResidualStage]:
    """ResNet and its subclasses (RegNet too): ``layer1`` to ``layer4``;
    blocks without a ``downsample`` projection have identity shortcuts."""
    return [
        ResidualStage(name, list(getattr(backbone, name)))
        for name in backbone.res_layers
    ]


@register_residual_stages(ConvNeXt)
def convnext_stages(backbone: ConvNeXt) -> List[ResidualStage]:
    """ConvNeXt: every block of ``stages[i]`` is ``x + f(x)``."""
    return [
        ResidualStage(f'stages.{i}', list(stage), [True] * len(stage))
        for i, stage in enumerate(backbone.stages)
    ]


@register_residual_stages(SwinTransformer)
def swin_stages(backbone: SwinTransformer) -> List[ResidualStage]:
    """Swin: the blocks of ``stages[i].blocks``, each ``x + f(x)`` twice."""
    return [
        ResidualStage(f'stages.{i}.blocks', list(stage.blocks),
                      [True] * len(stage.blocks))
        for i, stage in enumerate(backbone.stages)
    ]


@register_residual_stages(VisionTransformer)
def vit_stages(backbone: VisionTransformer) -> List[ResidualStage]:
    """ViT and DeiT: one stage, the pre-norm encoder ``layers``."""
    return [ResidualStage('layers', list(backbone.layers),
                          [True] * len(backbone.layers))]


@register_residual_stages(MobileNetV2)
def mobilenet_v2_stages(backbone: MobileNetV2) -> List[ResidualStage]:
    """MobileNetV2: ``layer1`` to ``layer7``; inverted residuals with
    ``use_res_connect`` have identity shortcuts."""
    return [
        ResidualStage(name, list(getattr(backbone, name)),
                      [block.use_res_connect for block in getattr(
                          backbone, name)])
        for name in backbone.layers if name.startswith('layer')
    ]
