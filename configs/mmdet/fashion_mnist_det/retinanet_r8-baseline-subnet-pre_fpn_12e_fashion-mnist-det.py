# Copyright (c) mmstim contributors. All rights reserved.
# RetinaNet R8-FPN on the Fashion-MNIST canvases: the backbone is the 1-1-1
# subnet (the first block of each stage, 3 of 6 blocks) exported from
# the baseline's (configs/fashion_mnist/resnet14_baseline_fashion-mnist.py)
# pretrained ResNet-14 with tools/model_converters/export_subnet.py, BN
# re-estimated; loaded strictly. Set another checkpoint with
#   --cfg-options model.backbone.init_cfg.checkpoint=PATH
_base_ = './_base_/retinanet_r14_fpn_fashion-mnist-det.py'

model = dict(
    backbone=dict(
        type='mmpretrain.AnyDepthResNet',
        arch='ResNet_CIFAR',
        stage_blocks=(1, 1, 1),
        init_cfg=dict(
            _delete_=True,
            type='StrictPretrained',
            checkpoint='work_dirs/detection/export/baseline_seed0/subnet.pth',
            prefix='backbone.')))
