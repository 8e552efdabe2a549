# Copyright (c) mmstim contributors. All rights reserved.
"""Stimulatively train a ResNet-18, then use it as a detector's backbone.

The path a user takes: an ST run with MMEngine's runner (with
``SafeCheckpointHook``, as ``tools/train.py`` adds it), a config of
``configs/mmdet`` with the run's checkpoint given by ``--cfg-options``,
training and evaluation with ``tools/det/train.py`` and testing with
``tools/det/test.py``; all on tiny data.
"""
import json
import os
import os.path as osp
import pickle

import cv2
import numpy as np
import torch
from helpers import load_tool
from mmengine.dataset import BaseDataset
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.runner import Runner
from mmpretrain.datasets.transforms import PackInputs

import mmstim  # noqa: F401
from mmstim.utils.launch import build_det_runner

ROOT = osp.join(osp.dirname(__file__), '..', '..')
CONFIG = osp.join(ROOT, 'configs', 'mmdet',
                  'faster-rcnn_r50-stim-in1k-pre_fpn_1x_coco.py')
CLASSES = ('square', 'bar')
COLOURS = ((255, 64, 64), (64, 255, 64))
BBOX_KEYS = ('coco/bbox_mAP', 'coco/bbox_mAP_50', 'coco/bbox_mAP_75',
             'coco/bbox_mAP_s', 'coco/bbox_mAP_m', 'coco/bbox_mAP_l')


class ListDataset(BaseDataset):
    """A dataset of in-memory samples."""

    def __init__(self, samples, pipeline):
        self._samples = samples
        super().__init__(pipeline=pipeline, serialize_data=False)

    def load_data_list(self):
        return list(self._samples)


def train_stimulative_resnet18(work_dir: str) -> str:
    """ST-train a ResNet-18 for two iterations; return its checkpoint."""
    rng = np.random.default_rng(0)
    samples = [
        dict(
            img=rng.integers(0, 256, (32, 32, 3), dtype=np.uint8),
            gt_label=i % 3) for i in range(8)
    ]
    runner = Runner(
        model=dict(
            type='StimulativeClassifier',
            backbone=dict(type='ResNet', depth=18),
            neck=dict(type='GlobalAveragePooling'),
            head=dict(
                type='LinearClsHead',
                num_classes=3,
                in_channels=512,
                loss=dict(type='CrossEntropyLoss')),
            distill_loss=dict(type='KLDirectionLoss'),
            subnet_resize=dict(type='RandomSubnetResize', min_scale=0.5),
            data_preprocessor=dict(
                type='ClsDataPreprocessor',
                mean=[127.5] * 3,
                std=[127.5] * 3,
                num_classes=3)),
        work_dir=work_dir,
        experiment_name='st_resnet18_e2e',
        train_dataloader=dict(
            dataset=ListDataset(samples, [PackInputs()]),
            sampler=dict(type='DefaultSampler', shuffle=True),
            batch_size=4,
            num_workers=0),
        train_cfg=dict(by_epoch=True, max_epochs=1),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.05, momentum=0.9)),
        default_hooks=dict(
            checkpoint=dict(type='CheckpointHook', interval=1),
            logger=dict(type='LoggerHook', interval=1)),
        custom_hooks=[
            dict(type='SubnetSamplingHook', num_subnets=2),
            dict(type='SafeCheckpointHook')
        ],
        default_scope='mmpretrain',
        randomness=dict(seed=0))
    runner.train()
    assert runner.iter == 2
    # subnets were trained in both iterations
    kl = runner.message_hub.get_scalar('train/loss_kl').data[0]
    assert len(kl) == 2 and (kl > 0).all()
    return osp.join(work_dir, 'epoch_1.pth')


def draw_sample(rng, index: int, size: int):
    """An image with one or two filled rectangles and their COCO boxes."""
    image = np.full((size, size, 3), 32, dtype=np.uint8)
    boxes = []
    for label in range(1 + index % 2):
        w, h = (24, 24) if label == 0 else (36, 12)
        x = int(rng.integers(0, size - w))
        y = int(rng.integers(0, size - h)) if label == 0 else \
            size - h - 4
        image[y:y + h, x:x + w] = COLOURS[label]
        boxes.append((label + 1, [x, y, w, h]))
    return image, boxes


def write_coco(root: str,
               split: str,
               num_images: int,
               seed: int,
               size: int = 64) -> str:
    """Write a tiny COCO-format split; return its annotation file."""
    rng = np.random.default_rng(seed)
    os.makedirs(osp.join(root, split), exist_ok=True)
    images, annotations = [], []
    for index in range(num_images):
        image, boxes = draw_sample(rng, index, size)
        name = f'{index:04d}.png'
        cv2.imwrite(osp.join(root, split, name), image)
        images.append(
            dict(id=index + 1, file_name=name, width=size, height=size))
        for category_id, (x, y, w, h) in boxes:
            annotations.append(
                dict(
                    id=len(annotations) + 1,
                    image_id=index + 1,
                    category_id=category_id,
                    bbox=[x, y, w, h],
                    area=w * h,
                    iscrowd=0))
    categories = [
        dict(id=i + 1, name=name, supercategory='shape')
        for i, name in enumerate(CLASSES)
    ]
    ann_file = osp.join(root, f'{split}.json')
    with open(ann_file, 'w') as f:
        json.dump(
            dict(
                images=images, annotations=annotations, categories=categories),
            f)
    return ann_file


def data_options(root: str) -> list:
    """``--cfg-options`` pointing the config at the tiny dataset."""
    options = [
        f'val_evaluator.ann_file={root}/val.json',
        f'test_evaluator.ann_file={root}/val.json',
    ]
    for loader, split, resize in (('train_dataloader', 'train',
                                   2), ('val_dataloader', 'val', 1),
                                  ('test_dataloader', 'val', 1)):
        options += [
            f'{loader}.batch_size=1',
            f'{loader}.num_workers=0',
            f'{loader}.persistent_workers=False',
            f'{loader}.dataset.data_root={root}',
            f'{loader}.dataset.ann_file={split}.json',
            f'{loader}.dataset.data_prefix.img={split}/',
            f'{loader}.dataset.metainfo.classes=[{",".join(CLASSES)}]',
            f'{loader}.dataset.pipeline.{resize}.scale=(96,96)',
        ]
    return options


def model_options(checkpoint: str) -> list:
    """``--cfg-options`` for a ResNet-18 with a 2-class head."""
    return [
        f'model.backbone.init_cfg.checkpoint={checkpoint}',
        'model.backbone.depth=18',
        'model.neck.in_channels=[64,128,256,512]',
        f'model.roi_head.bbox_head.num_classes={len(CLASSES)}',
    ]


class Record(Hook):
    """Record the backbone as training starts and the metrics."""

    def __init__(self):
        self.backbone = None
        self.metrics = []
        self.train_iters = 0

    def before_train(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        self.backbone = {
            key: value.detach().clone()
            for key, value in model.backbone.state_dict().items()
        }

    def after_train_iter(self,
                         runner,
                         batch_idx,
                         data_batch=None,
                         outputs=None) -> None:
        self.train_iters += 1
        for key, value in outputs.items():
            assert torch.isfinite(value).all(), key

    def after_val_epoch(self, runner, metrics=None) -> None:
        self.metrics.append(metrics)


def check_bbox_metrics(metrics: dict) -> None:
    for key in BBOX_KEYS:
        assert isinstance(metrics[key], float), (key, metrics)
        assert -1.0 <= metrics[key] <= 1.0, (key, metrics)


def test_st_backbone_trains_and_evaluates_a_detector(tmp_path):
    checkpoint = train_stimulative_resnet18(str(tmp_path / 'st_resnet18'))
    expected = {
        key[len('backbone.'):]: value
        for key, value in torch.load(checkpoint, weights_only=True)
        ['state_dict'].items() if key.startswith('backbone.')
    }
    data_root = str(tmp_path / 'coco')
    write_coco(data_root, 'train', num_images=2, seed=1)
    write_coco(data_root, 'val', num_images=3, seed=2)

    det_train = load_tool('tools/det/train.py')
    work_dir = str(tmp_path / 'detector')
    args = det_train.parse_args([
        CONFIG, '--work-dir', work_dir, '--cfg-options',
        *model_options(checkpoint), *data_options(data_root),
        'train_cfg.max_epochs=1', 'train_cfg.val_interval=1',
        'default_hooks.logger.interval=1', 'visualizer.name=det_e2e'
    ])
    cfg = det_train.build_config(args)
    assert cfg.model.backbone.init_cfg == dict(
        type='StrictPretrained', checkpoint=checkpoint, prefix='backbone.')
    runner = build_det_runner(cfg)
    record = Record()
    runner.register_hook(record)
    runner.train()

    # init_weights of the detector loaded every backbone tensor
    assert record.backbone is not None
    assert set(record.backbone) == set(expected)
    for key, value in expected.items():
        assert torch.equal(record.backbone[key], value), key
    assert record.train_iters == 2
    assert len(record.metrics) == 1
    check_bbox_metrics(record.metrics[0])

    # the detector checkpoint tests with det_test.py, predictions dumped
    out = str(tmp_path / 'predictions.pkl')
    metrics = load_tool('tools/det/test.py').main([
        CONFIG,
        osp.join(work_dir, 'epoch_1.pth'), '--work-dir',
        str(tmp_path / 'detector_test'), '--out', out, '--cfg-options',
        *model_options(checkpoint), *data_options(data_root),
        'visualizer.name=det_e2e_test'
    ])
    # the trained detector was loaded: same data, same numbers
    assert {
        key: metrics[key]
        for key in BBOX_KEYS
    } == {
        key: record.metrics[0][key]
        for key in BBOX_KEYS
    }
    with open(out, 'rb') as f:
        predictions = pickle.load(f)
    assert len(predictions) == 3


def test_detector_on_an_exported_resnet50_subnet(tmp_path):
    """Export the 3-3-4-3 subnet of a ResNet-50 classifier, then train the
    subnet detector config for 2 iterations from it, loading strictly."""
    import torch.nn as nn
    from mmengine.config import Config
    from mmpretrain.registry import MODELS as CLS_MODELS

    classifier_cfg = osp.join(ROOT, 'configs', 'resnet50_stim_imagenet.py')
    torch.manual_seed(0)
    classifier = CLS_MODELS.build(Config.fromfile(classifier_cfg).model)
    classifier.init_weights()
    for module in classifier.modules():
        if isinstance(module, nn.BatchNorm2d):  # not the initial statistics
            module.running_mean.uniform_(-0.1, 0.1)
            module.running_var.uniform_(0.5, 1.5)
    source = str(tmp_path / 'resnet50.pth')
    torch.save(dict(state_dict=classifier.state_dict()), source)
    exporter = load_tool('tools/model_converters/export_subnet.py')
    _, exported = exporter.export_subnet(
        classifier_cfg, source, '3,3,4,3', str(tmp_path / 'subnets'),
        recalibration_images=0)
    expected = {
        key[len('backbone.'):]: value
        for key, value in torch.load(exported, weights_only=True)
        ['state_dict'].items() if key.startswith('backbone.')
    }
    assert len([k for k in expected if k.endswith('conv3.weight')]) == 13
    assert torch.equal(expected['layer3.3.conv1.weight'],
                       classifier.backbone.layer3[3].conv1.weight)

    data_root = str(tmp_path / 'coco')
    write_coco(data_root, 'train', num_images=2, seed=1)
    write_coco(data_root, 'val', num_images=2, seed=2)
    det_train = load_tool('tools/det/train.py')
    args = det_train.parse_args([
        osp.join(ROOT, 'configs', 'mmdet',
                 'faster-rcnn_r50-stim-subnet-3343_fpn_1x_coco.py'),
        '--work-dir', str(tmp_path / 'detector'), '--cfg-options',
        f'model.backbone.init_cfg.checkpoint={exported}',
        f'model.roi_head.bbox_head.num_classes={len(CLASSES)}',
        *data_options(data_root), 'train_cfg.max_epochs=1',
        'train_cfg.val_interval=2', 'visualizer.name=det_subnet_e2e'
    ])
    runner = build_det_runner(det_train.build_config(args))
    record = Record()
    runner.register_hook(record)
    runner.train()
    assert set(record.backbone) == set(expected)
    for key, value in expected.items():
        assert torch.equal(record.backbone[key], value), key
    assert record.train_iters == 2


#: A ConvNeXt small enough for a CPU test (MMPretrain's arch dict).
TINY_CONVNEXT = dict(depths=[1, 1, 2, 1], channels=[8, 16, 32, 64])


def add_box_masks(ann_file: str) -> None:
    """Give every box of a COCO file its rectangle as a polygon mask."""
    with open(ann_file) as f:
        coco = json.load(f)
    for ann in coco['annotations']:
        x, y, w, h = ann['bbox']
        ann['segmentation'] = [[x, y, x + w, y, x + w, y + h, x, y + h]]
    with open(ann_file, 'w') as f:
        json.dump(coco, f)


def test_mask_rcnn_on_a_stimulative_convnext(tmp_path):
    """Save a tiny ConvNeXt StimulativeClassifier (the ST++ ImageNet config
    shrunk), then train the ConvNeXt Mask R-CNN config for 2 iterations
    from it: every classifier backbone tensor is loaded strictly, and only
    the detector's extra LayerNorms (norm0-norm2) keep their own init."""
    from mmengine.config import Config
    from mmpretrain.registry import MODELS as CLS_MODELS

    from mmstim.models import StimulativeClassifier
    from mmstim.utils.checkpoint import load_weights

    classifier_cfg = Config.fromfile(
        osp.join(ROOT, 'configs', 'convnext-tiny_stim_imagenet.py'))
    classifier_cfg.model.backbone.arch = TINY_CONVNEXT
    classifier_cfg.model.head.in_channels = TINY_CONVNEXT['channels'][-1]
    torch.manual_seed(0)
    classifier = CLS_MODELS.build(classifier_cfg.model)
    assert isinstance(classifier, StimulativeClassifier)
    classifier.init_weights()
    with torch.no_grad():  # no tensor keeps an initial value (LN 1/0 ...)
        for param in classifier.parameters():
            param.add_(torch.randn_like(param) * 0.1)
    source = str(tmp_path / 'convnext_stim.pth')
    torch.save(dict(state_dict=classifier.state_dict()), source)
    expected = {
        key[len('backbone.'):]: value
        for key, value in classifier.state_dict().items()
        if key.startswith('backbone.')
    }

    data_root = str(tmp_path / 'coco')
    for split, seed in (('train', 1), ('val', 2)):
        add_box_masks(write_coco(data_root, split, num_images=2, seed=seed))
    channels = TINY_CONVNEXT['channels']
    det_train = load_tool('tools/det/train.py')
    args = det_train.parse_args([
        osp.join(ROOT, 'configs', 'mmdet',
                 'mask-rcnn_convnext-t-p4-w7-stim-in1k-pre_fpn_amp-ms-crop-'
                 '3x_coco.py'),
        '--work-dir',
        str(tmp_path / 'detector'),
        '--cfg-options',
        *[f'model.backbone.init_cfg.override.{i}.checkpoint={source}'
          for i in range(3)],
        'model.backbone.arch._delete_=True',
        f'model.backbone.arch.depths={TINY_CONVNEXT["depths"]}',
        f'model.backbone.arch.channels={channels}',
        f'model.neck.in_channels={channels}',
        f'model.roi_head.bbox_head.num_classes={len(CLASSES)}',
        f'model.roi_head.mask_head.num_classes={len(CLASSES)}',
        'optim_wrapper.type=OptimWrapper',  # AMP needs CUDA
        # MMDet's multi-scale RandomChoice, at 96 px, first branch
        'train_dataloader.dataset.pipeline.3.prob=[1.0,0.0]',
        'train_dataloader.dataset.pipeline.3.transforms.0.0.scales=[(96,96)]',
        *[option for option in data_options(data_root)
          if not option.startswith('train_dataloader.dataset.pipeline')],
        'train_cfg.max_epochs=1',
        'train_cfg.val_interval=2',
        'visualizer.name=det_convnext_e2e'
    ])
    cfg = det_train.build_config(args)
    assert cfg.model.backbone.type == 'mmpretrain.ConvNeXt'
    runner = build_det_runner(cfg)
    record = Record()
    runner.register_hook(record)
    runner.train()

    new = {f'{name}.{p}' for name in ('norm0', 'norm1', 'norm2')
           for p in ('weight', 'bias')}
    assert set(record.backbone) == set(expected) | new
    for key, value in expected.items():
        assert torch.equal(record.backbone[key], value), key
    for key in new:  # LayerNorm's own initialisation
        assert torch.all(record.backbone[key] == float(key.endswith(
            'weight'))), key
    assert record.train_iters == 2

    # why the config loads in parts: one strict load of the whole
    # classifier backbone lacks the detector's norm0-norm2
    model = runner.model.module if is_model_wrapper(
        runner.model) else runner.model
    try:
        load_weights(model.backbone, source, 'backbone.')
    except RuntimeError as error:
        assert 'norm0.weight' in str(error)
    else:
        raise AssertionError('a whole-backbone strict load succeeded')
