# Copyright (c) mmstim contributors. All rights reserved.
"""The smallest input side of a backbone, and the clear error below it."""
import pytest
import torch
from helpers import tiny_resnet_cifar
from mmpretrain.registry import MODELS

from mmstim.models import RandomSubnetResize, StimulativeClassifier
from mmstim.models.subnets import SubnetDraw
from mmstim.models.subnets.input_side import smallest_input_side

CONVNEXT = dict(type='ConvNeXt',
                arch=dict(depths=[1, 2, 2, 1], channels=[4, 8, 8, 16]))
VIT = dict(type='VisionTransformer',
           arch=dict(embed_dims=16, num_layers=2, num_heads=2,
                     feedforward_channels=16),
           img_size=32, patch_size=8)
# without the default corner padding, a ViT takes whole patches only
UNPADDED_VIT = dict(VIT, patch_cfg=dict(padding=0))


@pytest.mark.parametrize('backbone, side', [
    (CONVNEXT, 32),  # 4-px patch stem, then three 2x2 stride-2 layers
    (dict(CONVNEXT, stem_patch_size=2), 16),
    (dict(tiny_resnet_cifar()), 1),
    (VIT, 1),  # pads a partial patch
    (UNPADDED_VIT, 8),  # one whole patch
])
def test_smallest_input_side(backbone, side):
    module = MODELS.build(backbone)
    module.train()
    assert smallest_input_side(module) == side
    assert module.training  # restored
    module.eval()
    module(torch.rand(1, 3, side, side))
    if side > 1:
        with pytest.raises((RuntimeError, ValueError, AssertionError)):
            module(torch.rand(1, 3, side - 1, side - 1))


def classifier(backbone, channels, **resize):
    return StimulativeClassifier(
        backbone=backbone, neck=dict(type='GlobalAveragePooling'),
        head=dict(type='LinearClsHead', num_classes=3, in_channels=channels),
        subnet_resize=RandomSubnetResize(**resize))


def test_convnext_subnet_sides_below_32_px_name_the_setting():
    model = classifier(CONVNEXT, 16, min_scale=0.43)
    draws = [SubnetDraw(((True, ), ) * 4, 0.0)]
    with pytest.raises(ValueError, match=(
            r'subnet inputs of 21 px for 48-px inputs, but ConvNeXt takes '
            r'no side below 32 px: set subnet_resize.min_scale to at least '
            r'0.667 \(32/48; now 0.43\)')):
        model.subnet_sides(draws, 48)
    assert model.subnet_sides(draws, 75) == [32]  # 0.43 * 75 = 32.25
    with pytest.raises(ValueError, match='Inputs of side 28 px are smaller '
                       'than the smallest side ConvNeXt takes'):
        model.subnet_sides(draws, 28)
    fixed = classifier(CONVNEXT, 16, sizes=[16, 32])
    with pytest.raises(ValueError, match=r'sizes of at least 32 px \(now '
                       r'\[16, 32\]\)'):
        fixed.subnet_sides(draws, 64)


def test_vit_is_refused_when_built():
    # the ViT's own img_size (32) fixes the input side at build time
    with pytest.raises(ValueError, match=r'VisionTransformer takes no side '
                       r'below 8 px: set subnet_resize.min_scale to at least '
                       r'0.25'):
        StimulativeClassifier(
            backbone=UNPADDED_VIT,
            head=dict(type='VisionTransformerClsHead', num_classes=3,
                      in_channels=16),
            subnet_resize=RandomSubnetResize(min_scale=0.1))
