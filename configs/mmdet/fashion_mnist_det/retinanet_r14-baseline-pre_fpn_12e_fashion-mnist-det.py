# Copyright (c) mmstim contributors. All rights reserved.
# RetinaNet R14-FPN on the Fashion-MNIST canvases; the backbone is the
# baseline ResNet-14 (configs/fashion_mnist/resnet14_baseline_fashion-mnist.py)
# of the depth-study recipe (10,000 images, 30 epochs), which
# tools/benchmark/detection.py trains.
_base_ = './_base_/retinanet_r14-pre_fpn_fashion-mnist-det.py'

model = dict(backbone=dict(init_cfg=dict(
    checkpoint='work_dirs/detection/pretrain/baseline/seed0/epoch_30.pth')))
