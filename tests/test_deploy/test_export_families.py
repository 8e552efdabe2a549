# Copyright (c) mmstim contributors. All rights reserved.
"""Every exportable family: the exported model is the subnet, built from
MMPretrain's own class where MMPretrain can express it, and its ONNX model
holds only the kept blocks."""
import os
import os.path as osp
from typing import NamedTuple, Optional

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner
from mmpretrain.apis import get_model
from PIL import Image

from mmstim.deploy import export_subnet, parse_subnet
from mmstim.deploy.export import build_classifier
from mmstim.deploy.onnx_export import ort_session
from mmstim.engine import recalibrated_bn
from mmstim.models.subnets import find_residual_stages, run_as_subnet

pytestmark = pytest.mark.usefixtures('one_torch_thread')

SIDE = 32
GAP = dict(type='GlobalAveragePooling')
RESNET50_MASK = '101,1011,100101,101'  # kept depths 2, 3, 3, 2


class Family(NamedTuple):
    backbone: dict  # a tiny config
    neck: Optional[dict]
    channels: int  # the head's input channels
    subnet: str  # kept depths or a non-prefix mask
    exported_type: str  # the exported backbone's type
    has_bn: bool
    head: str = 'LinearClsHead'


def tiny_resnet(type_name: str, **kwargs) -> dict:
    return dict(type=type_name, depth=50, stem_channels=8, base_channels=8,
                **kwargs)


FAMILIES = {
    'ResNet_CIFAR': Family(
        dict(type='ResNet_CIFAR', depth=34, stem_channels=4,
             base_channels=4, num_stages=3, strides=(1, 2, 2),
             dilations=(1, 1, 1), out_indices=(2, )),
        GAP, 16, '101,1011,110101', 'AnyDepthResNet', True),
    'ResNeXt': Family(tiny_resnet('ResNeXt', groups=2, width_per_group=4),
                      GAP, 256, RESNET50_MASK, 'AnyDepthResNet', True),
    'SEResNet': Family(tiny_resnet('SEResNet'), GAP, 256, '1,2,3,1',
                       'AnyDepthResNet', True),
    'Res2Net': Family(tiny_resnet('Res2Net', base_width=4), GAP, 256,
                      RESNET50_MASK, 'AnyDepthResNet', True),
    'ResNeSt': Family(tiny_resnet('ResNeSt'), GAP, 256, RESNET50_MASK,
                      'AnyDepthResNet', True),
    'RegNet': Family(
        dict(type='RegNet',
             arch=dict(w0=8, wa=3.0, wm=1.3, group_w=8, depth=9,
                       bot_mul=1.0),
             stem_channels=8),  # depths 2, 3, 2, 2
        GAP, 32, '10,101,11,10', 'AnyDepthRegNet', True),
    'MobileNetV2': Family(
        dict(type='MobileNetV2', widen_factor=0.25), GAP, 1280,
        '1,10,101,1101,101,110,1', 'AnyDepthMobileNetV2', True),
    'ConvNeXt': Family(
        dict(type='ConvNeXt',
             arch=dict(depths=[2, 2, 3, 2], channels=[8, 16, 32, 64]),
             layer_scale_init_value=1.0),
        None, 64, '10,11,101,10', 'ConvNeXt', False),
    'VisionTransformer': Family(
        dict(type='VisionTransformer',
             arch=dict(embed_dims=16, num_layers=4, num_heads=2,
                       feedforward_channels=32),
             img_size=SIDE, patch_size=8),
        None, 16, '1010', 'VisionTransformer', False,
        'VisionTransformerClsHead'),
    'DeiT': Family(
        dict(type='DistilledVisionTransformer',
             arch=dict(embed_dims=16, num_layers=4, num_heads=2,
                       feedforward_channels=32),
             img_size=SIDE, patch_size=8),
        None, 16, '1101', 'DistilledVisionTransformer', False,
        'DeiTClsHead'),
    'SwinTransformer': Family(
        # the subnet keeps blocks 0, 2 and 3 of stage 1: their windows are
        # regular, regular, shifted (not the positional alternation)
        dict(type='SwinTransformer',
             arch=dict(embed_dims=16, depths=[2, 4], num_heads=[1, 2]),
             img_size=SIDE, patch_size=2, window_size=4, out_indices=(1, ),
             drop_path_rate=0., pad_small_map=True),
        GAP, 32, '11,1011', 'SwinTransformer', False),
}
NAMES = list(FAMILIES)


@pytest.fixture(scope='module')
def image_folder(tmp_path_factory) -> str:
    """16 random RGB images of side 32 in two class folders."""
    root = str(tmp_path_factory.mktemp('images'))
    rng = np.random.default_rng(0)
    for index in range(16):
        folder = osp.join(root, f'class{index % 2}')
        os.makedirs(folder, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (SIDE, SIDE, 3),
                                     dtype=np.uint8)).save(
                                         osp.join(folder, f'{index}.png'))
    return root


def write_source(name: str, root, image_folder: str) -> Config:
    """A trained-looking classifier of the family: config and checkpoint
    (PyTorch's default initialisation, random BN statistics)."""
    family = FAMILIES[name]
    head = dict(type=family.head, num_classes=2,
                in_channels=family.channels)
    if family.head == 'VisionTransformerClsHead':
        head['hidden_dim'] = None
    cfg = Config(dict(
        model=dict(type='ImageClassifier', backbone=family.backbone,
                   neck=family.neck, head=head),
        data_preprocessor=dict(mean=[127.5] * 3, std=[127.5] * 3,
                               num_classes=2),
        train_dataloader=dict(
            batch_size=4, num_workers=0,
            dataset=dict(type='CustomDataset', data_root=image_folder,
                         pipeline=[dict(type='LoadImageFromFile'),
                                   dict(type='PackInputs')]),
            sampler=dict(type='DefaultSampler', shuffle=True)),
        custom_imports=dict(imports=['mmstim'],
                            allow_failed_imports=False)))
    config = str(root / f'{name}.py')
    cfg.dump(config)
    torch.manual_seed(0)
    model = build_classifier(cfg)
    for key, buffer in model.named_buffers():
        if 'running' in key:
            buffer.copy_(torch.rand_like(buffer) + 0.5)
    torch.save(dict(state_dict=model.state_dict()), str(root / f'{name}.pth'))
    return cfg


def subnet_logits(cfg: Config, checkpoint: str, subnet: str,
                  inputs: torch.Tensor, images: int) -> torch.Tensor:
    """The source network run as the subnet, BN re-estimated on the same
    training images."""
    model = build_classifier(cfg)
    model.load_state_dict(torch.load(checkpoint)['state_dict'])
    stages = find_residual_stages(model.backbone)
    spec = parse_subnet(subnet, [len(stage) for stage in stages])
    with run_as_subnet(stages, spec) as mask, torch.no_grad():
        subnet_logits.kept = [sum(m) for m in mask]
        if images:
            loader = Runner.build_dataloader(cfg.train_dataloader, seed=0)
            with recalibrated_bn(model, loader, images):
                return model(inputs, mode='tensor')
        model.eval()
        return model(inputs, mode='tensor')


@pytest.mark.parametrize('name', NAMES)
def test_exported_subnet_is_the_subnet(name, tmp_path, image_folder):
    family = FAMILIES[name]
    cfg = write_source(name, tmp_path, image_folder)
    checkpoint = str(tmp_path / f'{name}.pth')
    images = 8 if family.has_bn else 0
    config, weights = export_subnet(
        str(tmp_path / f'{name}.py'), checkpoint, family.subnet,
        str(tmp_path / 'out'), recalibration_images=images, seed=0)
    exported_cfg = Config.fromfile(config)
    assert exported_cfg.model.type == 'ImageClassifier'
    assert exported_cfg.model.backbone.type == family.exported_type
    inputs = torch.rand(3, 3, SIDE, SIDE)
    expected = subnet_logits(cfg, checkpoint, family.subnet, inputs, images)
    model = get_model(config, pretrained=weights, device='cpu')
    model.eval()
    with torch.no_grad():
        got = model(inputs, mode='tensor')
    assert (got - expected).abs().max() <= 1e-5
    full_count = sum(p.numel() for p in build_classifier(cfg).parameters())
    assert sum(p.numel() for p in model.parameters()) < full_count
    stages = find_residual_stages(model.backbone)
    assert [len(stage) for stage in stages] == subnet_logits.kept


def export_onnx_of(name: str, subnet: Optional[str], tmp_path,
                   image_folder: str) -> dict:
    """Export the family's subnet (None: the full network) to ONNX."""
    from mmstim.deploy.onnx_export import export_onnx
    write_source(name, tmp_path, image_folder)
    config, weights = export_subnet(
        str(tmp_path / f'{name}.py'), str(tmp_path / f'{name}.pth'), subnet,
        str(tmp_path), recalibration_images=0, force=True)
    model = get_model(config, pretrained=weights, device='cpu')
    result = export_onnx(model, (3, SIDE, SIDE),
                         weights.replace('.pth', '.onnx'))
    return dict(result, model=model.eval(), torch_parameters=sum(
        p.numel() for p in model.parameters()))


@pytest.mark.parametrize('name', NAMES)
def test_onnx_matches_pytorch(name, tmp_path, image_folder):
    onnx = export_onnx_of(name, FAMILIES[name].subnet, tmp_path,
                          image_folder)
    assert onnx['max_abs_diff'] <= 1e-4
    # the batch axis is dynamic: a batch of 5 matches PyTorch too
    inputs = torch.rand(5, 3, SIDE, SIDE)
    (got, ) = ort_session(onnx['path'], threads=1).run(
        None, {'inputs': inputs.numpy()})
    with torch.no_grad():
        expected = onnx['model'](inputs, mode='tensor').numpy()
    assert got.shape == expected.shape == (5, 2)
    assert np.abs(got - expected).max() <= 1e-4


@pytest.mark.parametrize('name', ['ResNet_CIFAR', 'SwinTransformer'])
def test_onnx_holds_only_the_kept_blocks(name, tmp_path, image_folder):
    sub = export_onnx_of(name, FAMILIES[name].subnet, tmp_path, image_folder)
    full = export_onnx_of(name, None, tmp_path, image_folder)
    dropped = full['torch_parameters'] - sub['torch_parameters']
    assert dropped > 0.2 * full['torch_parameters']
    # the dropped blocks' weights are not in the subnet's file
    assert full['parameters'] - sub['parameters'] >= 0.9 * dropped
    assert sub['file_bytes'] < full['file_bytes'] - 3 * dropped
