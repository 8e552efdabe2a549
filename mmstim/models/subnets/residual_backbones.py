# Copyright (c) mmstim contributors. All rights reserved.
"""The residual stages of MMPretrain's backbones (the registered entries).

Each entry lists, for a backbone class and its subclasses, the stages and
which blocks have an identity shortcut. Stems, downsampling layers (ResNet's
projection blocks, ConvNeXt's downsample layers, Swin's patch merging) and
blocks that change the shape are never dropped.
"""
from typing import List

from mmpretrain.models.backbones import (ConvNeXt, MobileNetV2, ResNet,
                                         SwinTransformer, VisionTransformer)

from .stages import ResidualStage, register_residual_stages


@register_residual_stages(ResNet)
def resnet_stages(backbone: ResNet) -> List[ResidualStage]:
    """ResNet and its subclasses (V1c/V1d, ResNeXt, SE-ResNet(X), ResNet_CIFAR,
    Res2Net, ResNeSt, RegNet): ``layer1`` to ``layer4``; a block without a
    ``downsample`` projection has an identity shortcut."""
    return [
        ResidualStage(name, list(getattr(backbone, name)))
        for name in backbone.res_layers
    ]


@register_residual_stages(ConvNeXt)
def convnext_stages(backbone: ConvNeXt) -> List[ResidualStage]:
    """ConvNeXt: every block of ``stages[i]`` is ``x + f(x)``; the
    downsampling layers are outside the stages."""
    return [
        ResidualStage(f'stages.{i}', list(stage), [True] * len(stage))
        for i, stage in enumerate(backbone.stages)
    ]


@register_residual_stages(SwinTransformer)
def swin_stages(backbone: SwinTransformer) -> List[ResidualStage]:
    """Swin: the blocks of ``stages[i].blocks`` (each ``x + f(x)`` twice);
    patch merging follows the blocks and is never dropped."""
    return [
        ResidualStage(f'stages.{i}.blocks', list(stage.blocks),
                      [True] * len(stage.blocks))
        for i, stage in enumerate(backbone.stages)
    ]


@register_residual_stages(VisionTransformer)
def vit_stages(backbone: VisionTransformer) -> List[ResidualStage]:
    """ViT and DeiT: one stage, the encoder ``layers`` (pre-norm blocks with
    identity shortcuts)."""
    return [
        ResidualStage('layers', list(backbone.layers),
                      [True] * len(backbone.layers))
    ]


@register_residual_stages(MobileNetV2)
def mobilenet_v2_stages(backbone: MobileNetV2) -> List[ResidualStage]:
    """MobileNetV2: ``layer1`` to ``layer7``; only inverted residuals with
    ``use_res_connect`` (stride 1, same channels) have an identity
    shortcut."""
    return [
        ResidualStage(name, list(getattr(backbone, name)),
                      [block.use_res_connect for block in getattr(
                          backbone, name)])
        for name in backbone.layers if name.startswith('layer')
    ]
