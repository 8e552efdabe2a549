# Copyright (c) mmstim contributors. All rights reserved.
# Faster R-CNN R50-FPN, 1x schedule, COCO; the backbone is initialised from the
# ImageNet ResNet-50 trained by stimulative training (ST) with mmstim.
# MMDet base: mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py
# Only the backbone initialisation differs from the base; MMDet's
# frozen_stages=1 and norm_eval=True are kept on purpose, so results compare
# with MMDet's torchvision-initialised model zoo.
# The checkpoint path is set once, below; override it with
#   --cfg-options model.backbone.init_cfg.checkpoint=PATH
# and add model.backbone.init_cfg.prefix=None for a file written by
# tools/model_converters/extract_backbone.py (keys without 'backbone.').
_base_ = 'mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py'

custom_imports = dict(imports=['mmstim'], allow_failed_imports=False)

model = dict(
    backbone=dict(
        init_cfg=dict(
            _delete_=True,
            type='StrictPretrained',
            checkpoint='work_dirs/resnet50_stim_imagenet/epoch_200.pth',
            prefix='backbone.')))
