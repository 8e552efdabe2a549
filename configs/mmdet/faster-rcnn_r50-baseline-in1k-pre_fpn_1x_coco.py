# Copyright (c) mmstim contributors. All rights reserved.
# Faster R-CNN R50-FPN, 1x schedule, COCO; the backbone is initialised from the
# ImageNet ResNet-50 of plain (baseline) training, the control for
# faster-rcnn_r50-stim-in1k-pre_fpn_1x_coco.py.
# MMDet base: mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py, through
# faster-rcnn_r50-stim-in1k-pre_fpn_1x_coco.py, which keeps MMDet's
# frozen_stages=1 and norm_eval=True and loads with StrictPretrained.
# The checkpoint path is set once, below; override it with
#   --cfg-options model.backbone.init_cfg.checkpoint=PATH
_base_ = './faster-rcnn_r50-stim-in1k-pre_fpn_1x_coco.py'

model = dict(
    backbone=dict(
        init_cfg=dict(
            checkpoint='work_dirs/resnet50_baseline_imagenet/epoch_200.pth')))
