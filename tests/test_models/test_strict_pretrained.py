# Copyright (c) mmstim contributors. All rights reserved.
import re
from collections import OrderedDict

import pytest
import torch
from mmdet.models.backbones import ResNet as DetResNet
from mmengine.logging import HistoryBuffer
from mmengine.model import initialize
from mmengine.registry import WEIGHT_INITIALIZERS
from mmpretrain.models.backbones import ResNet as ClsResNet

from mmstim.models import StrictPretrainedInit


def randomised(module: torch.nn.Module, seed: int = 0) -> OrderedDict:
    """The module's state dict with every float entry redrawn."""
    generator = torch.Generator().manual_seed(seed)
    state_dict = OrderedDict()
    for key, value in module.state_dict().items():
        if value.is_floating_point():
            value = torch.rand(value.shape, generator=generator) + 0.5
        else:
            value = torch.randint(1, 100, value.shape, generator=generator)
        state_dict[key] = value
    return state_dict


def save_classifier_checkpoint(path, depth: int) -> OrderedDict:
    """Save an MMPretrain ResNet as a classifier's backbone; return it."""
    backbone = randomised(ClsResNet(depth=depth), seed=depth)
    state_dict = OrderedDict(
        (f'backbone.{key}', value) for key, value in backbone.items())
    state_dict['head.fc.weight'] = torch.rand(3, 512 if depth < 50 else 2048)
    state_dict['head.fc.bias'] = torch.rand(3)
    torch.save(dict(meta=dict(epoch=1), state_dict=state_dict), str(path))
    return backbone


def strict_init(checkpoint, **kwargs) -> dict:
    return dict(type='StrictPretrained', checkpoint=str(checkpoint), **kwargs)


def test_registered_in_the_root_registry():
    assert WEIGHT_INITIALIZERS.get('StrictPretrained') is StrictPretrainedInit


@pytest.mark.parametrize('depth', [18, 50])
def test_loads_exactly_through_init_weights(tmp_path, depth):
    path = tmp_path / f'r{depth}.pth'
    expected = save_classifier_checkpoint(path, depth=depth)
    # MMDet's ResNet as a detector config builds it (frozen stage, eval BN)
    model = DetResNet(
        depth=depth,
        frozen_stages=1,
        norm_eval=True,
        init_cfg=strict_init(path))
    model.init_weights()
    loaded = model.state_dict()
    assert list(loaded) == list(expected)
    for key, value in expected.items():
        assert torch.equal(loaded[key], value), key


def test_no_prefix_loads_a_bare_backbone(tmp_path):
    expected = randomised(ClsResNet(depth=18))
    path = tmp_path / 'bare.pth'
    torch.save(expected, str(path))
    model = DetResNet(depth=18)
    initialize(model, strict_init(path, prefix=None))
    for key, value in expected.items():
        assert torch.equal(model.state_dict()[key], value), key


def test_missing_file(tmp_path):
    path = tmp_path / 'no_such_checkpoint.pth'
    model = DetResNet(depth=18, init_cfg=strict_init(path))
    with pytest.raises(FileNotFoundError, match=re.escape(str(path))):
        model.init_weights()


def test_checkpoint_without_prefix_keys(tmp_path):
    path = tmp_path / 'torchvision_style.pth'
    torch.save(randomised(ClsResNet(depth=18)), str(path))
    model = DetResNet(depth=18, init_cfg=strict_init(path))
    with pytest.raises(ValueError) as info:
        model.init_weights()
    message = str(info.value)
    assert str(path) in message
    assert "No key starts with 'backbone.'" in message
    assert 'conv1.weight' in message  # lists keys the file has
    assert 'prefix=None' in message


def test_depth_mismatch_names_keys(tmp_path):
    path = tmp_path / 'r18.pth'
    save_classifier_checkpoint(path, depth=18)
    model = DetResNet(depth=50, init_cfg=strict_init(path))
    with pytest.raises(RuntimeError) as info:
        model.init_weights()
    message = str(info.value)
    assert str(path) in message
    assert 'ResNet' in message
    # ResNet-50 has bottleneck keys ResNet-18 lacks, and other shapes
    assert re.search(r'Missing key\(s\).*"layer1\.0\.conv3\.weight"',
                     message), message
    assert re.search(
        r'size mismatch for layer1\.0\.conv1\.weight: .*'
        r'\[64, 64, 3, 3\]\) from checkpoint.*\[64, 64, 1, 1\]\)',
        message), message


def test_unexpected_keys_are_refused(tmp_path):
    path = tmp_path / 'r18_extra.pth'
    backbone = randomised(ClsResNet(depth=18))
    backbone['extra.weight'] = torch.zeros(2)
    torch.save({f'backbone.{k}': v for k, v in backbone.items()}, str(path))
    with pytest.raises(
            RuntimeError,
            match=r'Unexpected key\(s\) in state_dict: "extra\.weight"'):
        initialize(DetResNet(depth=18), strict_init(path))


def test_refuses_pickled_objects(tmp_path):
    path = tmp_path / 'training.pth'
    save_classifier_checkpoint(path, depth=18)
    checkpoint = torch.load(str(path), weights_only=True)
    checkpoint['message_hub'] = dict(log_scalars=dict(loss=HistoryBuffer()))
    torch.save(checkpoint, str(path))
    with pytest.raises(RuntimeError, match='refuses: .*HistoryBuffer') as info:
        initialize(DetResNet(depth=18), strict_init(path))
    assert str(path) in str(info.value)
    assert 'publish_model.py' in str(info.value)
