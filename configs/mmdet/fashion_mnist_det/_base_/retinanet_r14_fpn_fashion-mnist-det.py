# Copyright (c) mmstim contributors. All rights reserved.
# RetinaNet on the Fashion-MNIST detection canvases
# (tools/dataset_converters/fashion_mnist_detection.py), with the 14-layer
# CIFAR-style ResNet of configs/fashion_mnist (3 stages of 2 basic blocks,
# 16/32/64 channels, strides 1/2/4, one grey input channel) as backbone.
# The FPN takes the stride-2 and stride-4 stages and adds two levels
# (strides 8 and 16) on the last stage's output; the anchors (8 to 101 px)
# cover the items (5 to 48 px) on the 96 x 96 canvases.
# The configs of this folder differ only in the backbone's initialisation;
# the pretrained ones keep MMDet's practice for a pretrained backbone
# (frozen BN statistics and affine parameters, first stage and stem frozen),
# chosen against trainable BN on the val canvases (docs/en/benchmarks.md,
# "Detection pretraining").
_base_ = 'mmdet::_base_/default_runtime.py'

custom_imports = dict(imports=['mmstim'], allow_failed_imports=False)

data_root = 'data/fashion_mnist_det/'
classes = ('T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal',
           'Shirt', 'Sneaker', 'Bag', 'Ankle boot')

model = dict(
    type='RetinaNet',
    data_preprocessor=dict(
        type='DetDataPreprocessor',
        # the Fashion-MNIST pretraining's normalisation
        mean=[72.94],
        std=[90.02],
        bgr_to_rgb=False,
        pad_size_divisor=16),
    backbone=dict(
        type='mmpretrain.ResNet_CIFAR',
        depth=18,
        in_channels=1,
        stem_channels=16,
        base_channels=16,
        num_stages=3,
        strides=(1, 2, 2),
        dilations=(1, 1, 1),
        out_indices=(1, 2),
        frozen_stages=1,
        norm_cfg=dict(type='BN', requires_grad=False),
        norm_eval=True,
        zero_init_residual=False,
        init_cfg=None),
    neck=dict(
        type='FPN',
        in_channels=[32, 64],
        out_channels=64,
        start_level=0,
        add_extra_convs='on_input',
        num_outs=4),
    bbox_head=dict(
        type='RetinaHead',
        num_classes=len(classes),
        in_channels=64,
        stacked_convs=2,
        feat_channels=64,
        anchor_generator=dict(
            type='AnchorGenerator',
            octave_base_scale=4,
            scales_per_octave=3,
            ratios=[0.5, 1.0, 2.0],
            strides=[2, 4, 8, 16]),
        bbox_coder=dict(
            type='DeltaXYWHBBoxCoder',
            target_means=[.0, .0, .0, .0],
            target_stds=[1.0, 1.0, 1.0, 1.0]),
        loss_cls=dict(
            type='FocalLoss',
            use_sigmoid=True,
            gamma=2.0,
            alpha=0.25,
            loss_weight=1.0),
        loss_bbox=dict(type='L1Loss', loss_weight=1.0)),
    train_cfg=dict(
        assigner=dict(
            type='MaxIoUAssigner',
            pos_iou_thr=0.5,
            neg_iou_thr=0.4,
            min_pos_iou=0,
            ignore_iof_thr=-1),
        sampler=dict(type='PseudoSampler'),
        allowed_border=-1,
        pos_weight=-1,
        debug=False),
    test_cfg=dict(
        nms_pre=1000,
        min_bbox_size=0,
        score_thr=0.05,
        nms=dict(type='nms', iou_threshold=0.5),
        max_per_img=100))

# The canvases are 96 x 96 already: Resize only records scale_factor 1.
train_pipeline = [
    dict(type='LoadImageFromFile', color_type='grayscale'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=(96, 96), keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile', color_type='grayscale'),
    dict(type='Resize', scale=(96, 96), keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(
        type='PackDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                   'scale_factor')),
]


def split_dataset(split: str, pipeline: list, test_mode: bool) -> dict:
    return dict(
        type='CocoDataset',
        data_root=data_root,
        metainfo=dict(classes=classes),
        ann_file=f'annotations/{split}.json',
        data_prefix=dict(img=''),
        filter_cfg=dict(filter_empty_gt=not test_mode, min_size=2),
        test_mode=test_mode,
        pipeline=pipeline)


train_dataloader = dict(
    batch_size=8,
    num_workers=1,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    batch_sampler=None,
    dataset=split_dataset('train', train_pipeline, False))
val_dataloader = dict(
    batch_size=16,
    num_workers=1,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=split_dataset('val', test_pipeline, True))
# the test canvases, used once for the final table
test_dataloader = dict(
    val_dataloader, dataset=split_dataset('test', test_pipeline, True))
val_evaluator = dict(
    type='CocoMetric',
    ann_file=data_root + 'annotations/val.json',
    metric='bbox',
    format_only=False)
test_evaluator = dict(val_evaluator,
                      ann_file=data_root + 'annotations/test.json')
del split_dataset

# 12 epochs of the 1,200 train canvases (1,800 iterations at batch 8):
# MMDet's 1x shape (warm-up, steps at 8 and 11 of 12 epochs).
max_epochs = 12
train_cfg = dict(
    type='EpochBasedTrainLoop', max_epochs=max_epochs,
    val_interval=max_epochs)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0,
         end=200),
    dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True,
         milestones=[8, 11], gamma=0.1)
]
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=0.0001),
    clip_grad=dict(max_norm=35, norm_type=2))
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=50),
    # every epoch, so that an interrupted run resumes losing one at most
    checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=1))
