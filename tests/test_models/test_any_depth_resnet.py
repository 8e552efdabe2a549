# Copyright (c) mmstim contributors. All rights reserved.
import pytest
import torch
from mmpretrain.models import ResNet, ResNet_CIFAR, ResNeXt
from mmpretrain.models.backbones.resnet import BasicBlock, Bottleneck

from mmstim.models import AnyDepthResNet

CIFAR = dict(arch='ResNet_CIFAR', depth=18, num_stages=3, base_channels=16,
             stem_channels=16, strides=(1, 2, 2), dilations=(1, 1, 1),
             out_indices=(2, ))


def shapes(module):
    return {k: tuple(v.shape) for k, v in module.state_dict().items()}


@pytest.mark.parametrize('parent, kwargs', [
    (ResNet(depth=50, base_channels=8, stem_channels=8),
     dict(depth=50, base_channels=8, stem_channels=8)),
    (ResNeXt(depth=101, groups=4, width_per_group=4),
     dict(arch='ResNeXt', depth=101, groups=4, width_per_group=4)),
])
def test_parent_depths_give_the_parent(parent, kwargs):
    backbone = AnyDepthResNet(stage_blocks=parent.stage_blocks, **kwargs)
    assert type(backbone) is type(parent)
    assert shapes(backbone) == shapes(parent)


def test_stage_blocks_and_key_names():
    backbone = AnyDepthResNet(stage_blocks=(3, 3, 4, 3), base_channels=8,
                              stem_channels=8)
    assert [len(getattr(backbone, n)) for n in backbone.res_layers] == [
        3, 3, 4, 3]
    assert isinstance(backbone.layer3[3], Bottleneck)
    full = shapes(ResNet(depth=50, base_channels=8, stem_channels=8))
    # every key of the smaller network is the parent's, same shape
    assert all(full[k] == v for k, v in shapes(backbone).items())
    # class attribute untouched: ResNet-50 still has (3, 4, 6, 3)
    assert ResNet.arch_settings[50][1] == (3, 4, 6, 3)


def basic_block(c_in, c_out):
    """Parameters of a basic block (3x3 convs, BN weight and bias each),
    with a 1x1 projection and its BN when the channels change."""
    params = 9 * c_in * c_out + 9 * c_out * c_out + 2 * (2 * c_out)
    if c_in != c_out:
        params += c_in * c_out + 2 * c_out
    return params


@pytest.mark.parametrize('n', [5, 9])  # ResNet-32 and ResNet-56
def test_cifar_resnet_parameter_count(n):
    backbone = AnyDepthResNet(stage_blocks=(n, n, n), **CIFAR)
    assert type(backbone) is ResNet_CIFAR
    assert isinstance(backbone.layer1[0], BasicBlock)
    stem = 9 * 3 * 16 + 2 * 16
    blocks = sum(
        basic_block(c_in, c) + (n - 1) * basic_block(c, c)
        for c_in, c in ((16, 16), (16, 32), (32, 64)))
    assert sum(p.numel() for p in backbone.parameters()) == stem + blocks
    assert backbone(torch.zeros(2, 3, 32, 32))[0].shape == (2, 64, 8, 8)
    assert 6 * n + 2 == {5: 32, 9: 56}[n]


@pytest.mark.parametrize('kwargs, error, message', [
    (dict(arch='VGG'), TypeError, "arch='VGG' is not a registered subclass"),
    (dict(depth=42), ValueError, 'no depth 42; its depths are'),
    (dict(stage_blocks=(2, 0, 2)), ValueError, 'positive integers'),
    (dict(stage_blocks=(2, 2), num_stages=3), ValueError, 'num_stages=3'),
])
def test_bad_arguments(kwargs, error, message):
    with pytest.raises(error, match=message):
        AnyDepthResNet(**dict(dict(stage_blocks=(2, 2, 2, 2)), **kwargs))
