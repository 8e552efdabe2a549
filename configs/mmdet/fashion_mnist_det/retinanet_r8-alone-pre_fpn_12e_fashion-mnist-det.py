# Copyright (c) mmstim contributors. All rights reserved.
# RetinaNet R8-FPN on the Fashion-MNIST canvases; the backbone is the 1-1-1
# architecture trained alone by the baseline recipe
# (tools/benchmark/accuracy.py --stage-blocks 1 1 1, depth-study recipe), as
# tools/benchmark/detection.py trains it.
_base_ = './_base_/retinanet_r8-pre_fpn_fashion-mnist-det.py'

model = dict(backbone=dict(init_cfg=dict(
    checkpoint='work_dirs/detection/pretrain/alone111/baseline/seed0/'
    'epoch_30.pth')))
