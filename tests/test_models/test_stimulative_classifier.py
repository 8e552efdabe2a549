# Copyright (c) mmstim contributors. All rights reserved.
import copy

import pytest
import torch
import torch.nn as nn
from helpers import fake_batch, tiny_classifier
from mmengine.optim import OptimWrapper
from mmpretrain.models import ImageClassifier

from mmstim.models import StimulativeClassifier
from mmstim.models.subnets import SubnetDraw, frozen_bn_statistics, to_mask

SPECS = [(1, 2, 3), (3, 1, 6), (2, 4, 1)]
US = [0.1, 0.99, 0.5]


def fixed_draws(model, specs=SPECS, us=US):
    return [SubnetDraw(to_mask(model.residual_stages, s), u)
            for s, u in zip(specs, us)]


class RecordingOptimWrapper(OptimWrapper):
    """Records the order of backward passes and steps."""

    def __init__(self, *args, events=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.events = events if events is not None else []

    def backward(self, loss, **kwargs):
        self.events.append('backward')
        super().backward(loss, **kwargs)

    def step(self, **kwargs):
        self.events.append('step')
        super().step(**kwargs)


def reference_gradients(model, batch):
    """Sum every loss of the iteration and backpropagate once."""
    model = copy.deepcopy(model)
    data = model.data_preprocessor(batch, True)
    inputs, samples = data['inputs'], data['data_samples']
    logits = model.head(model.extract_feat(inputs))
    loss = model.head._get_loss(
        model.distill_loss.normalize_logits(logits), samples)['loss']
    teacher = logits.detach()
    sides = model.subnet_resize.choose_sides(US, inputs.shape[-2])
    for spec, side in zip(SPECS, sides):
        with model.subnet(spec), frozen_bn_statistics(model):
            student = model.head(
                model.extract_feat(model.subnet_resize(inputs, side)))
        loss = loss + model.distill_loss(student, teacher)
    loss.backward()
    return {n: p.grad.clone() for n, p in model.named_parameters()}, model


def test_gradients_equal_sum_then_backward_float64():
    model = tiny_classifier(dtype=torch.float64)
    model.train()
    batch = fake_batch(batch_size=6, size=16)
    model.set_subnets(fixed_draws(model))
    expected, reference = reference_gradients(model, batch)
    wrapper = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1))
    log_vars = model.accumulate_gradients(batch, wrapper)
    for name, param in model.named_parameters():
        assert torch.allclose(param.grad, expected[name], rtol=1e-9,
                              atol=1e-14), name
    # BN running buffers equal those after the main pass alone
    for (name, got), want in zip(model.named_buffers(), reference.buffers()):
        assert torch.equal(got, want), name
    assert model.subnet_sides(fixed_draws(model), 16) == [8, 16, 12]
    assert log_vars['subnet_side'] == 12.0
    assert log_vars['kept_depth'] == pytest.approx((6 + 10 + 7) / 3)
    assert log_vars['loss_kl'] > 0
    assert torch.allclose(
        log_vars['loss'], log_vars['loss_cls'] + 3 * log_vars['loss_kl'])


def test_buffers_equal_main_pass_alone():
    model = tiny_classifier()
    model.train()
    batch = fake_batch(batch_size=4)
    main_only = copy.deepcopy(model)
    main_only.set_subnets([])
    model.set_subnets(fixed_draws(model))
    for m in (model, main_only):
        m.accumulate_gradients(
            batch, OptimWrapper(torch.optim.SGD(m.parameters(), lr=0.1)))
    for (name, got), want in zip(model.named_buffers(),
                                 main_only.buffers()):
        assert torch.equal(got, want), name


def test_call_order_one_graph_at_a_time():
    model = tiny_classifier()
    model.train()
    events = []
    model.head.register_forward_hook(lambda *args: events.append('forward'))
    wrapper = RecordingOptimWrapper(
        torch.optim.SGD(model.parameters(), lr=0.1), events=events)
    model.set_subnets(fixed_draws(model))
    model.train_step(fake_batch(), wrapper)
    assert events == ['forward', 'backward'] * 4 + ['step']


def test_sgd_step_applies_summed_gradient():
    model = tiny_classifier(dtype=torch.float64)
    model.train()
    batch = fake_batch()
    model.set_subnets(fixed_draws(model))
    grads, _ = reference_gradients(model, batch)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    wrapper = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.5))
    model.train_step(batch, wrapper)
    for name, param in model.named_parameters():
        assert torch.allclose(param, before[name] - 0.5 * grads[name],
                              rtol=1e-9, atol=1e-12), name
        assert param.grad is None or not param.grad.any()


def test_accumulative_counts_steps_and_inner_count():
    model = tiny_classifier()
    model.train()
    events = []
    wrapper = RecordingOptimWrapper(
        torch.optim.SGD(model.parameters(), lr=0.01), events=events,
        accumulative_counts=2)
    wrapper.initialize_count_status(model, 0, 8)
    for i in range(8):
        model.set_subnets(fixed_draws(model))
        model.train_step(fake_batch(seed=i), wrapper)
    assert events.count('step') == 4
    assert events.count('backward') == 8 * 4
    assert wrapper._inner_count == 8


def test_accumulation_scales_every_pass():
    model = tiny_classifier(dtype=torch.float64)
    model.train()
    batch = fake_batch()
    model.set_subnets(fixed_draws(model))
    expected, _ = reference_gradients(model, batch)
    wrapper = OptimWrapper(
        torch.optim.SGD(model.parameters(), lr=0.1), accumulative_counts=2)
    wrapper.initialize_count_status(model, 0, 4)
    model.accumulate_gradients(batch, wrapper)
    for name, param in model.named_parameters():
        assert torch.allclose(param.grad, expected[name] / 2, rtol=1e-9,
                              atol=1e-14), name
    assert wrapper._inner_count == 1 and not wrapper.should_update()


class FixedScaleOptimWrapper(OptimWrapper):
    """Loss scaling as AMP does it, with a fixed scale, on the CPU."""

    def __init__(self, *args, scale=1024.0, **kwargs):
        super().__init__(*args, **kwargs)
        self.scale = scale

    def backward(self, loss, **kwargs):
        super().backward(loss * self.scale, **kwargs)

    def step(self, **kwargs):
        for group in self.optimizer.param_groups:
            for param in group['params']:
                if param.grad is not None:
                    param.grad.div_(self.scale)  # unscale before clipping
        super().step(**kwargs)


def test_loss_scaling_with_clipping_gives_same_update():
    results = []
    for wrapper_type in (OptimWrapper, FixedScaleOptimWrapper):
        model = tiny_classifier(dtype=torch.float64)
        model.train()
        model.set_subnets(fixed_draws(model))
        wrapper = wrapper_type(
            torch.optim.SGD(model.parameters(), lr=0.1),
            clip_grad=dict(max_norm=0.05))
        model.train_step(fake_batch(), wrapper)
        results.append([p.detach().clone() for p in model.parameters()])
    for plain, scaled in zip(*results):
        assert torch.allclose(plain, scaled, rtol=1e-9, atol=1e-12)


def test_subnets_never_set_is_an_error():
    model = tiny_classifier()
    wrapper = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1))
    with pytest.raises(RuntimeError, match=r"custom_hooks=\[dict\(type="
                       r"'SubnetSamplingHook'"):
        model.train_step(fake_batch(), wrapper)
    # subnets are handed over per iteration: a second step needs its own
    model.set_subnets(fixed_draws(model))
    model.train_step(fake_batch(), wrapper)
    with pytest.raises(RuntimeError, match='set_subnets'):
        model.train_step(fake_batch(), wrapper)


def test_inner_count_advances_once_also_after_an_error():
    model = tiny_classifier()
    model.train()
    wrapper = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1))
    bad = [SubnetDraw(((True, ) * 3, ) * 3, 0.5)]  # wrong stage lengths
    model.set_subnets(bad)
    with pytest.raises(ValueError, match='mask of stage 1 has 3 entries'):
        model.train_step(fake_batch(), wrapper)
    assert wrapper._inner_count == 1
    assert [len(s) for s in model.residual_stages] == [3, 4, 6]


def test_plain_loss_path_is_refused_in_training():
    model = tiny_classifier()
    model.train()
    data = model.data_preprocessor(fake_batch(), True)
    with pytest.raises(RuntimeError, match='StimulativeDDP'):
        model(data['inputs'], data['data_samples'], mode='loss')
    model.eval()
    assert 'loss' in model(data['inputs'], data['data_samples'], mode='loss')


def test_unsupported_head():
    with pytest.raises(TypeError, match='MultiLabelLinearClsHead'):
        StimulativeClassifier(
            backbone=dict(type='ResNet', depth=18),
            neck=dict(type='GlobalAveragePooling'),
            head=dict(type='MultiLabelLinearClsHead', num_classes=3,
                      in_channels=512))


def test_unsupported_backbone():
    with pytest.raises(TypeError, match='VGG is none of the supported ones'
                       '.*ConvNeXt, MobileNetV2, ResNet, SwinTransformer, '
                       'VisionTransformer'):
        StimulativeClassifier(
            backbone=dict(type='VGG', depth=11),
            neck=dict(type='GlobalAveragePooling'),
            head=dict(type='LinearClsHead', num_classes=3,
                      in_channels=1280))


@pytest.mark.parametrize('backbone', [
    dict(type='ResNet', depth=18),
    dict(type='ResNetV1c', depth=50),
    dict(type='ResNetV1d', depth=50),
    dict(type='ResNeXt', depth=50),
    dict(type='SEResNet', depth=50),
    dict(type='SEResNeXt', depth=50),
])
def test_supported_backbones_run_subnets(backbone):
    stage_depths = {18: (2, 2, 2, 2), 50: (3, 4, 6, 3)}[backbone['depth']]
    model = StimulativeClassifier(
        backbone=dict(backbone, base_channels=8, stem_channels=8) if
        backbone['type'] in ('ResNet', 'ResNetV1c', 'ResNetV1d')
        else backbone,
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='LinearClsHead', num_classes=3, in_channels=8))
    assert tuple(len(s) for s in model.residual_stages) == stage_depths
    x = torch.randn(2, 3, 32, 32)
    model.eval()
    with model.subnet(tuple(1 for _ in stage_depths)):
        feats = model.extract_feat(x)
    assert feats[0].shape[0] == 2


def test_inference_and_state_dict_match_image_classifier():
    model = tiny_classifier()
    plain = ImageClassifier(
        backbone=copy.deepcopy(model.backbone),
        neck=copy.deepcopy(model.neck),
        head=copy.deepcopy(model.head))
    assert list(model.state_dict()) == list(plain.state_dict())
    model.eval()
    plain.eval()
    x = torch.randn(3, 3, 16, 16)
    assert torch.equal(model(x), plain(x))
    got = model(x, mode='predict')
    want = plain(x, mode='predict')
    assert [int(s.pred_label) for s in got] == [
        int(s.pred_label) for s in want]
    assert isinstance(model.distill_loss, nn.Module)
