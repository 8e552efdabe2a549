# Copyright (c) mmstim contributors. All rights reserved.
import hashlib
import os.path as osp
import re

import pytest
import torch
import torchvision
from helpers import load_tool
from mmdet.models.backbones import ResNet as DetResNet
from mmengine.logging import HistoryBuffer
from mmpretrain.models import ImageClassifier

from mmstim import __version__

publish_model = load_tool('tools/model_converters/publish_model.py')
extract_backbone = load_tool('tools/model_converters/extract_backbone.py')


def classifier(backbone_type: str = 'ResNet',
               depth: int = 18,
               num_classes: int = 5) -> ImageClassifier:
    """A classifier in eval mode whose BN statistics matter."""
    torch.manual_seed(depth)
    channels = 512 if depth < 50 else 2048
    model = ImageClassifier(
        backbone=dict(type=backbone_type, depth=depth),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(
            type='LinearClsHead',
            num_classes=num_classes,
            in_channels=channels))
    model.init_weights()
    generator = torch.Generator().manual_seed(depth)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                shape = module.running_mean.shape
                module.running_mean.copy_(
                    0.2 * torch.randn(shape, generator=generator))
                module.running_var.copy_(
                    torch.rand(shape, generator=generator) + 0.5)
                module.weight.copy_(
                    torch.rand(shape, generator=generator) + 0.5)
                module.bias.copy_(0.2 *
                                  torch.randn(shape, generator=generator))
                module.num_batches_tracked.fill_(7)
    return model.eval()


def save_training_checkpoint(model: torch.nn.Module, path: str) -> None:
    """Save a checkpoint as MMEngine's runner does, training state too."""
    torch.save(
        dict(
            meta=dict(
                epoch=2,
                iter=20,
                cfg="model = dict(type='ImageClassifier')",
                seed=3,
                time='20240101_000000',
                experiment_name='exp',
                mmengine_version='0.10.7',
                dataset_meta=dict(classes=('a', 'b', 'c', 'd', 'e'))),
            state_dict=model.state_dict(),
            optimizer=dict(state={}, param_groups=[dict(lr=0.1)]),
            param_schedulers=[dict(last_step=20)],
            message_hub=dict(log_scalars=dict(loss=HistoryBuffer()))), path)


def test_publish_keeps_weights_and_names_by_hash(tmp_path):
    model = classifier()
    source = str(tmp_path / 'epoch_2.pth')
    save_training_checkpoint(model, source)
    with pytest.raises(RuntimeError, match='--trust-checkpoint') as info:
        publish_model.publish(source, str(tmp_path / 'r18.pth'))
    assert source in str(info.value)

    published = publish_model.main(
        [source, str(tmp_path / 'r18_st.pth'), '--allow-pickle'])
    match = re.fullmatch(r'r18_st-([0-9a-f]{8})\.pth', osp.basename(published))
    assert match, published
    with open(published, 'rb') as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    assert match.group(1) == digest[:8]

    checkpoint = torch.load(published, weights_only=True)
    assert set(checkpoint) == {'meta', 'state_dict'}
    assert checkpoint['meta'] == dict(
        epoch=2,
        iter=20,
        mmengine_version='0.10.7',
        dataset_meta=dict(classes=('a', 'b', 'c', 'd', 'e')),
        mmstim_version=__version__)
    expected = model.state_dict()
    assert list(checkpoint['state_dict']) == list(expected)
    for key, value in expected.items():
        assert torch.equal(checkpoint['state_dict'][key], value), key


def test_extract_backbone_round_trip(tmp_path):
    model = classifier()
    source = str(tmp_path / 'epoch_2.pth')
    save_training_checkpoint(model, source)
    published = publish_model.publish(
        source, str(tmp_path / 'r18.pth'), trust=True)
    out = str(tmp_path / 'backbone.pth')
    assert extract_backbone.main([published, out]) == 0

    checkpoint = torch.load(out, weights_only=True)
    assert set(checkpoint) == {'meta', 'state_dict'}
    expected = model.backbone.state_dict()
    assert list(checkpoint['state_dict']) == list(expected)
    for key, value in expected.items():
        assert torch.equal(checkpoint['state_dict'][key], value), key
    # MMDet's ResNet takes it as it is
    detector_backbone = DetResNet(depth=18)
    detector_backbone.load_state_dict(checkpoint['state_dict'], strict=True)


def test_torchvision_export_gives_the_same_logits(tmp_path):
    model = classifier(depth=50, num_classes=1000)
    source = str(tmp_path / 'r50.pth')
    torch.save(dict(meta={}, state_dict=model.state_dict()), source)
    out = str(tmp_path / 'r50_torchvision.pth')
    extract_backbone.extract(source, out, torchvision=True)

    state_dict = torch.load(out, weights_only=True)
    reference = torchvision.models.resnet50(weights=None)
    assert list(state_dict) == list(reference.state_dict())
    reference.load_state_dict(state_dict, strict=True)
    reference.eval()
    assert torch.equal(reference.fc.weight, model.head.fc.weight)

    inputs = torch.randn(
        2, 3, 96, 96, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = model(inputs, mode='tensor')
        logits = reference(inputs)
    assert expected.shape == logits.shape == (2, 1000)
    assert expected.std() > 0.1  # not a degenerate comparison
    assert torch.allclose(logits, expected, atol=1e-4, rtol=1e-4)
    # the BN statistics matter: the training-mode output differs
    with torch.no_grad():
        assert not torch.allclose(
            reference.train()(inputs), expected, atol=1e-2)


@pytest.mark.parametrize('backbone_type', ['ResNetV1c', 'ResNetV1d'])
def test_torchvision_refuses_deep_stem(tmp_path, backbone_type, capsys):
    model = classifier(backbone_type=backbone_type)
    source = str(tmp_path / 'v1c.pth')
    torch.save(dict(state_dict=model.state_dict()), source)
    out = str(tmp_path / 'tv.pth')
    with pytest.raises(ValueError, match='deep stem') as info:
        extract_backbone.extract(source, out, torchvision=True)
    assert 'ResNetV1c or ResNetV1d' in str(info.value)
    assert 'no torchvision' in str(info.value)
    assert extract_backbone.main([source, out, '--torchvision']) == 1
    assert 'deep stem' in capsys.readouterr().err
    assert not osp.exists(out)


def test_torchvision_refuses_other_resnets():
    cifar = classifier(backbone_type='ResNet_CIFAR').state_dict()
    with pytest.raises(
            ValueError,
            match=r'(?s)torchvision resnet18: .*size mismatch for '
            r'conv1\.weight: .*\[64, 3, 3, 3\]\) from checkpoint.*'
            r'\[64, 3, 7, 7\]'):
        extract_backbone.to_torchvision(cifar)
    plain = classifier().state_dict()
    no_head = {k: v for k, v in plain.items() if not k.startswith('head.')}
    with pytest.raises(ValueError, match='no head.fc.weight'):
        extract_backbone.to_torchvision(no_head)
    shallow = {
        k: v
        for k, v in plain.items() if not k.startswith('backbone.layer4.1.')
    }
    with pytest.raises(ValueError, match='7 blocks would be resnet16'):
        extract_backbone.to_torchvision(shallow)


def test_broken_input_is_an_error_naming_it(tmp_path, capsys):
    source = tmp_path / 'half.pth'
    source.write_bytes(b'PK\x03\x04' + bytes(100))
    assert extract_backbone.main([str(source), str(tmp_path / 'o')]) == 1
    assert f"'{source}'" in capsys.readouterr().err
