# Copyright (c) mmstim contributors. All rights reserved.
# RetinaNet R14-FPN on the Fashion-MNIST canvases, backbone loaded strictly
# from ST++'s (configs/fashion_mnist/resnet14_stpp_fashion-mnist.py)
# Fashion-MNIST pretraining (tools/benchmark/detection.py trains it: the
# depth-study recipe, 10,000 images, 30 epochs). Set another checkpoint with
#   --cfg-options model.backbone.init_cfg.checkpoint=PATH
_base_ = './_base_/retinanet_r14_fpn_fashion-mnist-det.py'

model = dict(
    backbone=dict(
        init_cfg=dict(
            _delete_=True,
            type='StrictPretrained',
            checkpoint='work_dirs/detection/pretrain/stpp/seed0/epoch_30.pth',
            prefix='backbone.')))
