# Copyright (c) mmstim contributors. All rights reserved.
"""Stimulative training on MMPretrain's other residual backbones.

Every registered family runs as a tiny instance (table ``FAMILIES``). For
each one the stages are listed by hand, and a subnet's output is compared
with a forward written out here, after MMPretrain's ``forward``, that
simply leaves the dropped blocks out of the loop.
"""
import copy
import functools
import os
import socket
from typing import Callable, NamedTuple, Optional, Tuple

import pytest
import torch
import torch.distributed as torch_dist
import torch.multiprocessing as mp
from helpers import CastingPreprocessor, fake_batch
from mmengine.optim import OptimWrapper
from mmpretrain.models import ImageClassifier
from mmpretrain.models.backbones import VGG, RegNet
from mmpretrain.models.heads import LinearClsHead
from torch.nn.functional import interpolate
from torch.nn.modules.batchnorm import _BatchNorm

from mmstim.models import (KLDirectionLoss, RandomSubnetResize,
                           StimulativeClassifier, StimulativeDDP)
from mmstim.models.subnets import (SubnetDraw, find_residual_stages,
                                   frozen_bn_statistics, run_as_subnet,
                                   to_mask)

pytestmark = pytest.mark.usefixtures('one_torch_thread')

T, F = True, False
NUM_CLASSES = 5
#: The sampler's uniform numbers of the two subnets of an iteration.
US = (0.5, 0.0)


def kept(blocks, keep):
    return [block for block, k in zip(blocks, keep) if k]


# Forwards by hand, after MMPretrain 1.2's ``forward`` of each class, through
# the kept blocks only (tiny configs: no drop path, no absolute position
# embedding in Swin, ViT at its own image size).
def resnet_forward(backbone, x, mask):
    """ResNet.forward; RegNet.forward is the same without max pooling."""
    if backbone.deep_stem:
        x = backbone.stem(x)
    else:
        x = backbone.relu(backbone.norm1(backbone.conv1(x)))
    if not isinstance(backbone, RegNet):
        x = backbone.maxpool(x)
    outs = []
    for i, (name, keep) in enumerate(zip(backbone.res_layers, mask)):
        for block in kept(getattr(backbone, name), keep):
            x = block(x)
        if i in backbone.out_indices:
            outs.append(x)
    return tuple(outs)


def convnext_forward(backbone, x, mask):
    outs = []
    for i, keep in enumerate(mask):
        x = backbone.downsample_layers[i](x)
        for block in kept(backbone.stages[i], keep):
            x = block(x)
        if i in backbone.out_indices:  # gap_before_final_norm
            gap = x.mean([-2, -1], keepdim=True)
            outs.append(getattr(backbone, f'norm{i}')(gap).flatten(1))
    return tuple(outs)


def swin_forward(backbone, x, mask):
    x, hw_shape = backbone.patch_embed(x)
    outs = []
    for i, (stage, keep) in enumerate(zip(backbone.stages, mask)):
        for block in kept(stage.blocks, keep):
            x = block(x, hw_shape)
        if i in backbone.out_indices:
            out = getattr(backbone, f'norm{i}')(x)
            outs.append(
                out.view(-1, *hw_shape,
                         backbone.num_features[i]).permute(0, 3, 1, 2))
        if stage.downsample is not None:
            x, hw_shape = stage.downsample(x, hw_shape)
    return tuple(outs)


def vit_forward(backbone, x, mask):
    x, _ = backbone.patch_embed(x)
    cls_token = backbone.cls_token.expand(x.shape[0], -1, -1)
    x = torch.cat((cls_token, x), dim=1) + backbone.pos_embed
    outs = []
    for i, (layer, keep) in enumerate(zip(backbone.layers, mask[0])):
        if keep:
            x = layer(x)
        if i == len(backbone.layers) - 1:  # final_norm, also if dropped
            x = backbone.ln1(x)
        if i in backbone.out_indices:
            outs.append(x[:, 0])  # out_type='cls_token'
    return tuple(outs)


def mobilenet_v2_forward(backbone, x, mask):
    x = backbone.conv1(x)
    masks = dict(zip(backbone.layers, mask))  # conv2 is no stage
    outs = []
    for i, name in enumerate(backbone.layers):
        layer = getattr(backbone, name)
        if name in masks:
            for block in kept(layer, masks[name]):
                x = block(x)
        else:
            x = layer(x)
        if i in backbone.out_indices:
            outs.append(x)
    return tuple(outs)


class Family(NamedTuple):
    backbone: dict  # a tiny config
    neck: Optional[dict]
    channels: int  # the head's input channels
    side: int  # the input side
    resize: dict  # RandomSubnetResize of the subnets
    sides: Tuple[int, int]  # the subnets' sides for US, by hand
    stages: tuple  # hand-listed: (name, droppable per block) per stage
    mask: tuple  # a non-prefix keep-mask
    forward: Callable  # the forward by hand


GAP = dict(type='GlobalAveragePooling')
RESNET50_STAGES = (('layer1', (F, T, T)), ('layer2', (F, T, T, T)),
                   ('layer3', (F, T, T, T, T, T)), ('layer4', (F, T, T)))

FAMILIES = {
    'ConvNeXt': Family(
        backbone=dict(
            type='ConvNeXt',
            arch=dict(depths=[2, 2, 3, 2], channels=[8, 16, 32, 64]),
            out_indices=(1, 3),
            layer_scale_init_value=1.0),  # 1e-6 makes blocks near-identity
        neck=None, channels=64, side=48,
        resize=dict(min_scale=0.67), sides=(40, 32),
        stages=(('stages.0', (F, T)), ('stages.1', (F, T)),
                ('stages.2', (F, T, T)), ('stages.3', (F, T))),
        mask=((T, F), (T, T), (T, F, T), (T, F)),
        forward=convnext_forward),
    'SwinTransformer': Family(
        backbone=dict(
            type='SwinTransformer',
            arch=dict(embed_dims=16, depths=[2, 2, 3, 2],
                      num_heads=[1, 2, 2, 4]),
            img_size=64, window_size=2, drop_path_rate=0.,
            out_indices=(2, 3)),
        neck=GAP, channels=128, side=128,
        # pad_small_map=False (the classification default) refuses maps
        # smaller than the window: sides are multiples of patch 4 x window
        # 2 x 2**3 (three patch mergings) = 64
        resize=dict(min_scale=0.5, size_divisor=64), sides=(128, 64),
        stages=(('stages.0.blocks', (F, T)), ('stages.1.blocks', (F, T)),
                ('stages.2.blocks', (F, T, T)),
                ('stages.3.blocks', (F, T))),
        mask=((T, T), (T, F), (T, F, T), (T, F)),
        forward=swin_forward),
    'VisionTransformer': Family(
        backbone=dict(
            type='VisionTransformer',
            arch=dict(embed_dims=16, num_layers=4, num_heads=2,
                      feedforward_channels=32),
            img_size=32, patch_size=8, out_indices=(1, 3)),
        neck=None, channels=16, side=32,
        resize=dict(min_scale=0.5, size_divisor=8), sides=(24, 16),
        stages=(('layers', (F, T, T, T)), ),
        mask=((T, F, T, F), ),  # drops the last layer: final norm stays
        forward=vit_forward),
    'MobileNetV2': Family(
        backbone=dict(type='MobileNetV2', widen_factor=0.25,
                      out_indices=(4, 7)),
        neck=GAP, channels=1280, side=32,
        resize=dict(min_scale=0.5), sides=(24, 16),
        stages=(('layer1', (F, )), ('layer2', (F, T)),
                ('layer3', (F, T, T)), ('layer4', (F, T, T, T)),
                ('layer5', (F, T, T)), ('layer6', (F, T, T)),
                ('layer7', (F, ))),
        mask=((T, ), (T, F), (T, F, T), (T, T, F, T), (T, F, T),
              (T, T, F), (T, )),
        forward=mobilenet_v2_forward),
    'RegNet': Family(
        backbone=dict(
            type='RegNet',
            # widths 8, 16, 24, 32; depths 2, 3, 2, 2
            arch=dict(w0=8, wa=3.0, wm=1.3, group_w=8, depth=9,
                      bot_mul=1.0),
            stem_channels=8, out_indices=(1, 3)),
        neck=GAP, channels=32, side=32,
        resize=dict(min_scale=0.5), sides=(24, 16),
        stages=(('layer1', (F, T)), ('layer2', (F, T, T)),
                ('layer3', (F, T)), ('layer4', (F, T))),
        mask=((T, F), (T, F, T), (T, T), (T, F)),
        forward=resnet_forward),
    'Res2Net': Family(
        backbone=dict(type='Res2Net', depth=50, stem_channels=8,
                      base_channels=8, base_width=4),
        neck=GAP, channels=256, side=32,
        resize=dict(min_scale=0.5), sides=(24, 16),
        stages=RESNET50_STAGES,
        mask=((T, F, T), (T, T, F, T), (T, F, T, F, T, F), (T, T, F)),
        forward=resnet_forward),
    'ResNeSt': Family(
        backbone=dict(type='ResNeSt', depth=50, stem_channels=8,
                      base_channels=8),
        neck=GAP, channels=256, side=32,
        resize=dict(min_scale=0.5), sides=(24, 16),
        stages=RESNET50_STAGES,
        mask=((T, T, F), (T, F, F, T), (T, F, F, F, F, T),
              (T, F, T)),
        forward=resnet_forward),
}
NAMES = list(FAMILIES)
WITH_BN = ['MobileNetV2', 'RegNet', 'Res2Net', 'ResNeSt']


def build_classifier(name: str, seed: int = 0) -> StimulativeClassifier:
    """The family's tiny ST++ classifier in float64 (PyTorch's default
    initialisation: MMPretrain's zero-initialised residuals would make every
    subnet equal the full network)."""
    family = FAMILIES[name]
    torch.manual_seed(seed)
    model = StimulativeClassifier(
        backbone=family.backbone,
        neck=family.neck,
        head=LinearClsHead(num_classes=NUM_CLASSES,
                           in_channels=family.channels),
        distill_loss=KLDirectionLoss(normalize='layernorm'),
        subnet_resize=RandomSubnetResize(**family.resize),
        normalize_main_logits=True,
        data_preprocessor=CastingPreprocessor(
            torch.float64, mean=[127.5] * 3, std=[127.5] * 3))
    return model.to(torch.float64)


def calibrate_bn(model: StimulativeClassifier, name: str) -> None:
    """Running statistics of one batch (a cumulative average over one
    pass): with the initial ones, deep eval-mode BN nets saturate and give
    every input the same logits."""
    norms = [m for m in model.modules() if isinstance(m, _BatchNorm)]
    momenta = [norm.momentum for norm in norms]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None
    model.train()
    with torch.no_grad():
        model.backbone(random_inputs(name, batch_size=8))
    for norm, momentum in zip(norms, momenta):
        norm.momentum = momentum


@functools.lru_cache(maxsize=None)
def _prototype(name: str) -> StimulativeClassifier:
    model = build_classifier(name)
    calibrate_bn(model, name)
    return model


def classifier(name: str) -> StimulativeClassifier:
    """A fresh copy of the family's classifier (built once per session)."""
    return copy.deepcopy(_prototype(name))


def random_inputs(name: str, batch_size: int = 2) -> torch.Tensor:
    side = FAMILIES[name].side
    generator = torch.Generator().manual_seed(1)
    return torch.randn(batch_size, 3, side, side, generator=generator,
                       dtype=torch.float64)


def fixed_draws(name: str, stages) -> list:
    """The family's non-prefix subnet and the shallowest one."""
    shallowest = to_mask(stages, [1] * len(stages))
    return [SubnetDraw(to_mask(stages, FAMILIES[name].mask), US[0]),
            SubnetDraw(shallowest, US[1])]


def assert_outputs_close(got, want):
    assert len(got) == len(want)
    for a, b in zip(got, want):
        assert a.shape == b.shape
        assert torch.allclose(a, b, rtol=1e-12, atol=1e-12)


def differ(got, want) -> bool:
    return any(not torch.allclose(a, b, rtol=1e-6, atol=1e-6)
               for a, b in zip(got, want))


@pytest.mark.parametrize('name', NAMES)
def test_stages_listed_by_hand(name):
    backbone = _prototype(name).backbone
    stages = find_residual_stages(backbone)
    assert [(s.name, s.skippable) for s in stages] == list(
        FAMILIES[name].stages)
    for stage in stages:
        assert len(stage) == len(stage.skippable)
        # the blocks are the backbone's own modules, in order
        module = backbone.get_submodule(stage.name)
        assert all(a is b for a, b in zip(stage.blocks, module))
        assert len(stage.blocks) == len(module)
    # the first block of a stage is never dropped
    with pytest.raises(ValueError, match='block 0 of stage 0 cannot be'):
        to_mask(stages, [(F, ) + (T, ) * (len(s) - 1) for s in stages])


@pytest.mark.parametrize('name', ['RegNet', 'Res2Net', 'ResNeSt'])
def test_resnet_family_projection_blocks(name):
    """The first block of every stage has a projection; no other one."""
    for stage in find_residual_stages(_prototype(name).backbone):
        assert [b.downsample is not None
                for b in stage.blocks] == [not s for s in stage.skippable]


def test_mobilenet_v2_residual_connections():
    """Only stride-1, same-width blocks add their input; with widen 0.25
    layer1's single block (8 -> 8 channels) does too, but it is a stage's
    first, so no block of layer1 (nor layer7, 40 -> 80) is droppable."""
    backbone = _prototype('MobileNetV2').backbone
    stages = find_residual_stages(backbone)
    assert [[b.use_res_connect for b in s.blocks] for s in stages] == [
        [T], [F, T], [F, T, T], [F, T, T, T], [F, T, T], [F, T, T],
        [F]
    ]


@pytest.mark.parametrize('name', NAMES)
def test_subnet_output_equals_forward_through_kept_blocks(name):
    family = FAMILIES[name]
    backbone = classifier(name).backbone
    backbone.eval()
    stages = find_residual_stages(backbone)
    x = random_inputs(name)
    with torch.no_grad():
        full = backbone(x)
        # the forward by hand is MMPretrain's when every block is kept
        assert_outputs_close(
            family.forward(backbone, x, [(T, ) * len(s) for s in stages]),
            full)
        assert len(full) == len(backbone.out_indices)
        for spec in (family.mask, [1] * len(stages)):
            mask = to_mask(stages, spec)
            with run_as_subnet(stages, spec):
                got = backbone(x)
            want = family.forward(backbone, x, mask)
            assert_outputs_close(got, want)
            assert differ(got, full)
        # the non-prefix mask is not its prefix with the same depths
        prefix = to_mask(stages, [sum(keep) for keep in family.mask])
        assert prefix != to_mask(stages, family.mask)
        assert differ(family.forward(backbone, x, prefix),
                      family.forward(backbone, x, family.mask))


def reference_gradients(model, batch, draws, sides):
    """Every loss of the iteration summed, then one backward (on a copy)."""
    model = copy.deepcopy(model)
    data = model.data_preprocessor(batch, True)
    inputs, samples = data['inputs'], data['data_samples']
    logits = model.head(model.extract_feat(inputs))
    loss = model.head._get_loss(
        model.distill_loss.normalize_logits(logits), samples)['loss']
    teacher = logits.detach()
    for draw, side in zip(draws, sides):
        x = inputs
        if side != inputs.shape[-1]:
            x = interpolate(inputs, size=(side, side), mode='bilinear',
                            align_corners=False, antialias=True)
        with run_as_subnet(model.residual_stages, draw.mask), \
                frozen_bn_statistics(model):
            student = model.head(model.extract_feat(x))
        loss = loss + model.distill_loss(student, teacher)
    loss.backward()
    return {n: p.grad for n, p in model.named_parameters()}, model


@pytest.mark.parametrize('name', NAMES)
def test_gradients_equal_sum_then_backward(name):
    family = FAMILIES[name]
    model = classifier(name)
    model.train()
    batch = fake_batch(batch_size=4, size=family.side,
                       num_classes=NUM_CLASSES)
    draws = fixed_draws(name, model.residual_stages)
    assert model.subnet_sides(draws, family.side) == list(family.sides)
    expected, reference = reference_gradients(model, batch, draws,
                                              family.sides)
    model.set_subnets(draws)
    log_vars = model.accumulate_gradients(
        batch, OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1)))
    for param_name, param in model.named_parameters():
        want = expected[param_name]
        assert (param.grad is None) == (want is None), param_name
        if want is not None:
            assert torch.allclose(param.grad, want, rtol=1e-9,
                                  atol=1e-12), param_name
    for (buffer_name, got), want in zip(model.named_buffers(),
                                        reference.buffers()):
        assert torch.equal(got, want), buffer_name
    assert log_vars['subnet_side'] == sum(family.sides) / 2
    assert log_vars['kept_depth'] == (
        sum(sum(keep) for keep in family.mask) + len(family.stages)) / 2
    assert log_vars['loss_kl'] > 0


@pytest.mark.parametrize('name', WITH_BN)
def test_running_statistics_equal_main_pass_alone(name):
    model = classifier(name)
    model.train()
    initial = {n: b.clone() for n, b in model.named_buffers()}
    main_only = copy.deepcopy(model)
    main_only.set_subnets([])
    model.set_subnets(fixed_draws(name, model.residual_stages))
    batch = fake_batch(batch_size=4, size=FAMILIES[name].side,
                       num_classes=NUM_CLASSES)
    for m in (model, main_only):
        m.accumulate_gradients(
            batch, OptimWrapper(torch.optim.SGD(m.parameters(), lr=0.1)))
    main_buffers = dict(main_only.named_buffers())
    for buffer_name, got in model.named_buffers():
        assert torch.equal(got, main_buffers[buffer_name]), buffer_name
    # the main pass, and only it, did update every BN layer
    norms = [m for m in model.modules() if isinstance(m, _BatchNorm)]
    assert len(norms) > 10
    for norm in norms:  # the calibration pass and the main pass
        assert norm.num_batches_tracked == 2
    for statistic in ('running_mean', 'running_var'):
        for buffer_name, got in model.named_buffers():
            if buffer_name.endswith(statistic):
                assert not torch.equal(got, initial[buffer_name])


@pytest.mark.parametrize('name', NAMES)
def test_state_dict_and_inference_equal_image_classifier(name):
    model = classifier(name)
    plain = ImageClassifier(
        backbone=copy.deepcopy(model.backbone),
        neck=copy.deepcopy(model.neck),
        head=copy.deepcopy(model.head))
    assert list(model.state_dict()) == list(plain.state_dict())
    with model.subnet(FAMILIES[name].mask):
        assert list(model.state_dict()) == list(plain.state_dict())
    model.eval()
    plain.eval()
    x = random_inputs(name)
    with torch.no_grad():
        assert torch.equal(model(x), plain(x))


def assert_restored(model, stages):
    for stage in stages:
        for block in stage.blocks:
            assert 'forward' not in vars(block)
            assert block.forward.__func__ is type(block).forward


@pytest.mark.parametrize('name', NAMES)
def test_model_restored_after_subnet_pass_and_error(name):
    model = classifier(name)
    model.eval()
    stages = model.residual_stages
    mask = to_mask(stages, FAMILIES[name].mask)
    x = random_inputs(name)
    marker = torch.zeros(1)
    with torch.no_grad():
        before = model(x)
        with model.subnet(mask):
            for stage, keep in zip(stages, mask):
                for block, k in zip(stage.blocks, keep):
                    assert ('forward' in vars(block)) == (not k)
                    if not k:  # the identity, whatever else it is passed
                        assert block(marker, (1, 1), key=2) is marker
            subnet = model(x)
        assert not torch.allclose(subnet, before)
        assert_restored(model, stages)
        assert torch.equal(model(x), before)

        with pytest.raises(RuntimeError, match='inside the subnet'):
            with model.subnet(mask):
                model(x)
                raise RuntimeError('inside the subnet')
        assert_restored(model, stages)
        assert torch.equal(model(x), before)


def test_unsupported_backbone_lists_the_supported_ones():
    with pytest.raises(TypeError,
                       match='VGG is none of the supported ones .and their '
                       r'subclasses.: ConvNeXt, MobileNetV2, ResNet, '
                       r'SwinTransformer, VisionTransformer\. Register'):
        find_residual_stages(VGG(depth=11))


# Two processes on the CPU (gloo) stand for two GPUs, as in
# test_stimulative_ddp.py, with a ConvNeXt classifier (no BN).
DDP_FAMILY = 'ConvNeXt'
LR = 0.1
# Forked workers start at once; spawned ones import torch and MMPretrain
# again (some 15 s on two busy cores). The parent runs on one thread here.
START_METHOD = 'fork' if 'fork' in mp.get_all_start_methods() else 'spawn'


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def ddp_batch(rank):
    return fake_batch(batch_size=2, size=FAMILIES[DDP_FAMILY].side,
                      num_classes=NUM_CLASSES, seed=rank)


def ddp_worker(rank, world_size, port, out_dir):
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))
    torch_dist.init_process_group('gloo', rank=rank, world_size=world_size)
    try:
        torch.set_num_threads(1)
        # every rank starts from DIFFERENT weights: rank 0's are broadcast
        model = build_classifier(DDP_FAMILY, seed=rank)
        model.train()
        wrapped = StimulativeDDP(model, device_ids=[0])
        wrapper = OptimWrapper(torch.optim.SGD(model.parameters(), lr=LR))
        model.set_subnets(fixed_draws(DDP_FAMILY, model.residual_stages))
        wrapped.train_step(ddp_batch(rank), wrapper)
        torch.save({n: p.detach() for n, p in model.named_parameters()},
                   os.path.join(out_dir, f'rank{rank}.pth'))
    finally:
        torch_dist.destroy_process_group()


def test_two_ranks_equal_single_process_average(tmp_path):
    mp.start_processes(
        ddp_worker, args=(2, free_port(), str(tmp_path)), nprocs=2,
        join=True, start_method=START_METHOD)
    ranks = [torch.load(tmp_path / f'rank{r}.pth', weights_only=True)
             for r in range(2)]
    # one process: the average of both ranks' gradients, one SGD step
    model = build_classifier(DDP_FAMILY, seed=0)
    model.train()
    grads = {n: torch.zeros_like(p) for n, p in model.named_parameters()}
    for rank in range(2):
        replica = copy.deepcopy(model)
        replica.set_subnets(fixed_draws(DDP_FAMILY, replica.residual_stages))
        replica.accumulate_gradients(
            ddp_batch(rank),
            OptimWrapper(torch.optim.SGD(replica.parameters(), lr=LR)))
        for name, param in replica.named_parameters():
            if param.grad is not None:  # None: norm1, out_indices[0]'s
                grads[name] += param.grad / 2
    for name, param in model.named_parameters():
        expected = param.detach() - LR * grads[name]
        assert torch.equal(ranks[0][name], ranks[1][name]), name
        assert torch.allclose(ranks[0][name], expected, rtol=1e-10,
                              atol=1e-13), name
    moved = [n for n, p in model.named_parameters()
             if not torch.equal(ranks[0][n], p)]
    assert moved == [n for n in grads if grads[n].any()]
    assert len(moved) > 30
