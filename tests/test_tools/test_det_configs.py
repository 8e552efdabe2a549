# Copyright (c) mmstim contributors. All rights reserved.
import glob
import os.path as osp

import mmdet
import pytest
from mmdet.registry import MODELS
from mmdet.utils import register_all_modules
from mmengine.config import Config

import mmstim  # noqa: F401

CONFIG_DIR = osp.join(osp.dirname(__file__), '..', '..', 'configs', 'mmdet')
MMDET_CONFIG_DIR = osp.join(osp.dirname(mmdet.__file__), '.mim', 'configs')
BASES = {
    'faster-rcnn': 'faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py',
    'retinanet': 'retinanet/retinanet_r50_fpn_1x_coco.py',
    'mask-rcnn': 'mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py',
}
CHECKPOINTS = {
    'stim': 'work_dirs/resnet50_stim_imagenet/epoch_200.pth',
    'baseline': 'work_dirs/resnet50_baseline_imagenet/epoch_200.pth',
}
CONFIGS = [(algorithm, kind) for algorithm in BASES for kind in CHECKPOINTS]
SUBNET_CONFIG = 'faster-rcnn_r50-stim-subnet-3343_fpn_1x_coco.py'
CONVNEXT_CONFIG = ('mask-rcnn_convnext-t-p4-w7-stim-in1k-pre_fpn_amp-ms-crop-'
                   '3x_coco.py')
CONVNEXT_BASE = ('convnext/'
                 'mask-rcnn_convnext-t-p4-w7_fpn_amp-ms-crop-3x_coco.py')
CONVNEXT_CHECKPOINT = 'work_dirs/convnext-tiny_stim_imagenet/epoch_300.pth'
#: Parts of the detector's ConvNeXt loaded strictly, each from its prefix.
CONVNEXT_LOADED = ('downsample_layers', 'stages', 'norm3')
#: LayerNorms of the detector's ConvNeXt that its classifier lacks.
CONVNEXT_NEW = ('norm0', 'norm1', 'norm2')


def without_scope(obj):
    """Drop the ``_scope_`` keys MMEngine adds to a cross-package base."""
    if isinstance(obj, dict):
        return {k: without_scope(v) for k, v in obj.items() if k != '_scope_'}
    if isinstance(obj, (list, tuple)):
        return type(obj)(without_scope(v) for v in obj)
    return obj


def config_path(algorithm: str, kind: str) -> str:
    return osp.join(CONFIG_DIR,
                    f'{algorithm}_r50-{kind}-in1k-pre_fpn_1x_coco.py')


def test_the_eight_configs_exist():
    found = sorted(
        osp.basename(p) for p in glob.glob(osp.join(CONFIG_DIR, '*.py')))
    assert found == sorted([SUBNET_CONFIG, CONVNEXT_CONFIG] + [
        osp.basename(config_path(*config)) for config in CONFIGS])


def test_subnet_config_differs_only_in_the_backbone():
    cfg = without_scope(
        Config.fromfile(osp.join(CONFIG_DIR, SUBNET_CONFIG)).to_dict())
    base = without_scope(
        Config.fromfile(osp.join(MMDET_CONFIG_DIR,
                                 BASES['faster-rcnn'])).to_dict())
    backbone = cfg['model'].pop('backbone')
    expected = dict(base['model'].pop('backbone'), type='ResNet')
    # MMDet's ResNet-50 settings, with MMPretrain's ResNet of 3-3-4-3 blocks
    assert backbone.pop('type') == 'mmpretrain.AnyDepthResNet'
    assert backbone.pop('stage_blocks') == (3, 3, 4, 3)
    assert backbone.pop('arch') == 'ResNet'
    assert backbone.pop('zero_init_residual') is False  # keeps loaded BNs
    assert backbone.pop('init_cfg')['type'] == 'StrictPretrained'
    expected.pop('init_cfg')
    expected.pop('type')
    assert backbone == {k: v for k, v in expected.items()
                        if k != 'num_stages'}
    cfg.pop('custom_imports')
    assert cfg == base


@pytest.mark.parametrize('algorithm,kind', CONFIGS)
def test_only_the_backbone_init_differs_from_mmdet(algorithm, kind):
    cfg = Config.fromfile(config_path(algorithm, kind))
    base = Config.fromfile(osp.join(MMDET_CONFIG_DIR, BASES[algorithm]))
    assert cfg.custom_imports == dict(
        imports=['mmstim'], allow_failed_imports=False)
    assert cfg.model.backbone.init_cfg == dict(
        type='StrictPretrained',
        checkpoint=CHECKPOINTS[kind],
        prefix='backbone.')
    # MMDet's frozen_stages / norm_eval and everything else are kept
    assert cfg.model.backbone.frozen_stages == 1
    assert cfg.model.backbone.norm_eval is True
    cfg_dict = without_scope(cfg.to_dict())
    base_dict = without_scope(base.to_dict())
    cfg_dict['model']['backbone'].pop('init_cfg')
    base_dict['model']['backbone'].pop('init_cfg')
    cfg_dict.pop('custom_imports')
    assert cfg_dict == base_dict


@pytest.mark.parametrize('algorithm', list(BASES))
def test_cfg_options_override_the_checkpoint(algorithm):
    cfg = Config.fromfile(config_path(algorithm, 'stim'))
    cfg.merge_from_dict({
        'model.backbone.init_cfg.checkpoint': 'other.pth',
        'model.backbone.init_cfg.prefix': None
    })
    assert cfg.model.backbone.init_cfg == dict(
        type='StrictPretrained', checkpoint='other.pth', prefix=None)


@pytest.mark.parametrize('algorithm', list(BASES))
def test_the_detectors_build(algorithm, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no work_dirs/ here
    register_all_modules(init_default_scope=True)
    cfg = Config.fromfile(config_path(algorithm, 'stim'))
    model = MODELS.build(cfg.model)
    assert model.backbone.init_cfg['type'] == 'StrictPretrained'
    # a missing checkpoint stops init_weights instead of going unnoticed
    with pytest.raises(FileNotFoundError, match='resnet50_stim_imagenet'):
        model.init_weights()


def test_convnext_config_differs_only_in_the_backbone_init():
    cfg = Config.fromfile(osp.join(CONFIG_DIR, CONVNEXT_CONFIG))
    base = Config.fromfile(osp.join(MMDET_CONFIG_DIR, CONVNEXT_BASE))
    # MMDet's import of mmpretrain.models is kept
    assert cfg.custom_imports == dict(
        imports=['mmpretrain.models', 'mmstim'], allow_failed_imports=False)
    init_cfg = cfg.model.backbone.init_cfg
    # every part of the classifier's backbone loads strictly from the
    # ST++ checkpoint; the detector's extra LayerNorms start as LayerNorm's
    assert init_cfg == dict(
        type='Constant',
        layer='LayerNorm2d',
        val=1.0,
        bias=0.0,
        override=[
            dict(
                name=name,
                type='StrictPretrained',
                checkpoint=CONVNEXT_CHECKPOINT,
                prefix=f'backbone.{name}.') for name in CONVNEXT_LOADED
        ])
    cfg_dict = without_scope(cfg.to_dict())
    base_dict = without_scope(base.to_dict())
    cfg_dict['model']['backbone'].pop('init_cfg')
    assert base_dict['model']['backbone'].pop('init_cfg')['type'] == \
        'Pretrained'
    cfg_dict.pop('custom_imports')
    base_dict.pop('custom_imports')
    assert cfg_dict == base_dict


def test_convnext_init_covers_every_backbone_part(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no work_dirs/ here
    register_all_modules(init_default_scope=True)
    cfg = Config.fromfile(osp.join(CONFIG_DIR, CONVNEXT_CONFIG))
    model = MODELS.build(cfg.model)
    parts = {
        name
        for name, child in model.backbone.named_children()
        if any(True for _ in child.parameters())
    }
    assert parts == set(CONVNEXT_LOADED + CONVNEXT_NEW)
    # a missing checkpoint stops init_weights instead of going unnoticed
    with pytest.raises(FileNotFoundError, match='convnext-tiny_stim_imagenet'):
        model.init_weights()
