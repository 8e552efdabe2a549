# Copyright (c) mmstim contributors. All rights reserved.
# Mask R-CNN with a ConvNeXt-T FPN, MMDet's ConvNeXt recipe (3x schedule,
# multi-scale training with crops, AMP, AdamW with layer-wise lr decay),
# COCO; the backbone is initialised from the ImageNet ConvNeXt-T trained by
# ST++ with configs/convnext-tiny_stim_imagenet.py (its checkpoint's
# 'state_dict' holds the EMA weights; MMDet's own config starts from
# MMPretrain's non-EMA ImageNet weights).
# MMDet base:
#   mmdet::convnext/mask-rcnn_convnext-t-p4-w7_fpn_amp-ms-crop-3x_coco.py
# (MMDet has no 1x ConvNeXt config; the name says 3x as the base does).
# Only the backbone initialisation differs from the base (and mmstim joins
# the custom imports).
#
# The initialisation is strict, in three parts. The detector's ConvNeXt
# outputs all 4 stages and so has LayerNorms norm0-norm3, while the
# classifier's has only norm3 (after global pooling): one StrictPretrained
# over the whole backbone would stop at the missing norm0-norm2 keys. So
# the downsampling layers, the stages and norm3, i.e. every backbone tensor
# of the checkpoint, are each loaded with StrictPretrained (any missing,
# unexpected or wrong-shaped key is an error), and norm0-norm2, new in the
# detector, start from LayerNorm's weight 1 / bias 0, as MMDet's
# non-strict 'Pretrained' leaves them.
# Another checkpoint: set all three paths, e.g.
#   --cfg-options model.backbone.init_cfg.override.0.checkpoint=PATH \
#                 model.backbone.init_cfg.override.1.checkpoint=PATH \
#                 model.backbone.init_cfg.override.2.checkpoint=PATH
# Train as MMDet did (8 GPUs x 2 images; box AP 46.2, mask AP 41.7 from
# MMPretrain's weights); AMP needs CUDA GPUs:
#   bash tools/det/dist_train.sh CONFIG 8
_base_ = ('mmdet::convnext/'
          'mask-rcnn_convnext-t-p4-w7_fpn_amp-ms-crop-3x_coco.py')

custom_imports = dict(
    imports=['mmpretrain.models', 'mmstim'], allow_failed_imports=False)

model = dict(
    backbone=dict(
        init_cfg=dict(
            _delete_=True,
            # norm0-norm2 (the stages' own LayerNorms are loaded below)
            type='Constant',
            layer='LayerNorm2d',
            val=1.0,
            bias=0.0,
            override=[
                dict(
                    name='downsample_layers',
                    type='StrictPretrained',
                    checkpoint='work_dirs/convnext-tiny_stim_imagenet/'
                    'epoch_300.pth',
                    prefix='backbone.downsample_layers.'),
                dict(
                    name='stages',
                    type='StrictPretrained',
                    checkpoint='work_dirs/convnext-tiny_stim_imagenet/'
                    'epoch_300.pth',
                    prefix='backbone.stages.'),
                dict(
                    name='norm3',
                    type='StrictPretrained',
                    checkpoint='work_dirs/convnext-tiny_stim_imagenet/'
                    'epoch_300.pth',
                    prefix='backbone.norm3.'),
            ])))
