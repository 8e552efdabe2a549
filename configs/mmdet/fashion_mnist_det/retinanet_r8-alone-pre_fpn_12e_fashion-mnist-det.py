# Copyright (c) mmstim contributors. All rights reserved.
# RetinaNet R8-FPN on the Fashion-MNIST canvases: the backbone is the 1-1-1
# architecture (one basic block per stage) trained alone by the baseline
# recipe (tools/benchmark/accuracy.py --stage-blocks 1 1 1, the depth-study
# recipe); loaded strictly. Set another checkpoint with
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
            checkpoint='work_dirs/detection/pretrain/alone111/baseline/'
            'seed0/epoch_30.pth',
            prefix='backbone.')))
