# Copyright (c) mmstim contributors. All rights reserved.
# RetinaNet R8-FPN on the Fashion-MNIST canvases; the backbone is the 1-1-1
# subnet of the ST++ ResNet-14, exported with
# tools/model_converters/export_subnet.py (BN re-estimated), as
# tools/benchmark/detection.py writes it.
_base_ = './_base_/retinanet_r8-pre_fpn_fashion-mnist-det.py'

model = dict(backbone=dict(init_cfg=dict(
    checkpoint='work_dirs/detection/export/stpp_111_seed0/'
    'resnet14_stpp_fashion-mnist_subnet-1-1-1.pth')))
