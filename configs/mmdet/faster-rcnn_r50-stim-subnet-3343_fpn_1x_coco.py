# Copyright (c) mmstim contributors. All rights reserved.
# Faster R-CNN FPN, 1x schedule, COCO, on a SUBNET of the stimulatively
# trained ResNet-50: stages of 3, 3, 4 and 3 bottlenecks (13 instead of 16),
# exported as a standalone backbone with
#   python tools/model_converters/export_subnet.py \
#       configs/resnet50_stim_imagenet.py \
#       work_dirs/resnet50_stim_imagenet/epoch_200.pth \
#       --subnet 3,3,4,3 --out-dir work_dirs/subnets
# (BN re-estimated on 2000 ImageNet training images). The backbone is
# MMPretrain's ResNet with those stage depths (mmstim's AnyDepthResNet);
# everything else is MMDet's R50-FPN recipe, frozen_stages=1 and
# norm_eval=True included. zero_init_residual=False: MMPretrain's ResNet
# would otherwise zero the last BN of every block after loading the
# checkpoint (it skips that only for init_cfg type 'Pretrained').
# Override the checkpoint with
#   --cfg-options model.backbone.init_cfg.checkpoint=PATH
_base_ = 'mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py'

custom_imports = dict(imports=['mmstim'], allow_failed_imports=False)

model = dict(
    backbone=dict(
        _delete_=True,
        type='mmpretrain.AnyDepthResNet',
        arch='ResNet',
        depth=50,
        stage_blocks=(3, 3, 4, 3),
        out_indices=(0, 1, 2, 3),
        frozen_stages=1,
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=True,
        style='pytorch',
        zero_init_residual=False,
        init_cfg=dict(
            type='StrictPretrained',
            checkpoint='work_dirs/subnets/'
            'resnet50_stim_imagenet_subnet-3-3-4-3.pth',
            prefix='backbone.')))
