# Copyright (c) mmstim contributors. All rights reserved.
import pytest
import torch
import torch.nn as nn
from helpers import tiny_classifier

from mmstim.models.subnets import (find_residual_stages, frozen_bn_statistics,
                                   to_mask)


@pytest.fixture
def model():
    model = tiny_classifier(dtype=torch.float64)
    model.eval()
    return model


def truncated_backbone_forward(backbone, x, mask):
    """A hand-built network holding only the kept blocks."""
    x = backbone.conv1(x)
    x = backbone.norm1(x)
    x = backbone.relu(x)
    for name, stage_mask in zip(backbone.res_layers, mask):
        blocks = [b for b, keep in zip(getattr(backbone, name), stage_mask)
                  if keep]
        x = nn.Sequential(*blocks)(x)
    return x


def test_full_subnet_equals_plain_forward(model):
    x = torch.randn(2, 3, 16, 16, dtype=torch.float64)
    plain = model(x)
    with model.subnet((3, 4, 6)):
        full = model(x)
    assert torch.equal(plain, full)


@pytest.mark.parametrize('spec', [
    (1, 2, 3),
    ((1, 0, 1), (1, 1, 0, 1), (1, 0, 0, 0, 0, 1)),
])
def test_subnet_equals_hand_built_network(model, spec):
    x = torch.randn(2, 3, 16, 16, dtype=torch.float64)
    mask = to_mask(model.residual_stages, spec)
    feats = truncated_backbone_forward(model.backbone, x, mask)
    expected = model.head.fc(feats.mean(dim=(2, 3)))
    with model.subnet(spec) as used_mask:
        got = model(x)
    assert used_mask == mask
    assert torch.allclose(got, expected, rtol=0, atol=1e-12)
    assert not torch.allclose(got, model(x))


def test_restored_after_exception(model):
    x = torch.randn(1, 3, 16, 16, dtype=torch.float64)
    before = model(x)
    with pytest.raises(RuntimeError, match='inside'):
        with model.subnet((1, 1, 1)):
            raise RuntimeError('inside')
    assert torch.equal(model(x), before)
    assert all('forward' not in vars(block)
               for stage in model.residual_stages for block in stage.blocks)


def test_state_dict_unchanged_inside_subnet(model):
    keys = list(model.state_dict())
    with model.subnet((1, 1, 1)):
        assert list(model.state_dict()) == keys


@pytest.mark.parametrize('spec, message', [
    ((4, 4, 6), 'stage 0 keeps 4 blocks'),
    ((0, 4, 6), 'stage 0 keeps 0 blocks'),
    ((3, 4), '2 stages'),
    (((0, 1, 1), (1, 1, 1, 1), (1, ) * 6), 'cannot be dropped'),
    (((1, 1), (1, 1, 1, 1), (1, ) * 6), 'mask of stage 0 has 2'),
])
def test_bad_subnet_specs(model, spec, message):
    with pytest.raises(ValueError, match=message):
        with model.subnet(spec):
            pass


def test_downsampling_blocks_are_not_skippable():
    stages = tiny_classifier().residual_stages
    assert [s.skippable for s in stages] == [
        (False, True, True), (False, True, True, True),
        (False, True, True, True, True, True)]


def test_unsupported_backbone():
    backbone = nn.Sequential(nn.Conv2d(3, 3, 1))
    with pytest.raises(TypeError,
                       match='Sequential is none of the supported ones'):
        find_residual_stages(backbone)


def test_bn_uses_batch_statistics_and_keeps_running_buffers():
    model = tiny_classifier(dtype=torch.float64)
    model.train()
    norm = model.backbone.layer1[1].bn1
    norm.running_mean.uniform_(-1, 1)
    norm.running_var.uniform_(0.5, 2)
    buffers = {k: v.clone() for k, v in model.state_dict().items()
               if 'running' in k or 'num_batches' in k}
    captured = {}
    norm.register_forward_hook(
        lambda m, i, o: captured.update(input=i[0].clone(), output=o.clone()))
    x = torch.randn(4, 3, 16, 16, dtype=torch.float64)
    with frozen_bn_statistics(model), model.subnet((2, 2, 2)):
        model(x)
    inp = captured['input']
    mean = inp.mean(dim=(0, 2, 3), keepdim=True)
    var = inp.var(dim=(0, 2, 3), unbiased=False, keepdim=True)
    expected = (inp - mean) / torch.sqrt(var + norm.eps)
    expected = expected * norm.weight.view(1, -1, 1, 1) + \
        norm.bias.view(1, -1, 1, 1)
    assert torch.allclose(captured['output'], expected, atol=1e-10)
    after = model.state_dict()
    for key, value in buffers.items():
        assert torch.equal(after[key], value), key
    assert all(m.track_running_stats for m in model.modules()
               if isinstance(m, nn.BatchNorm2d))
    # and without the context the same pass does update them
    model(x)
    assert not torch.equal(norm.running_mean,
                           buffers['backbone.layer1.1.bn1.running_mean'])
