# Copyright (c) mmstim contributors. All rights reserved.
# The RetinaNet R14-FPN of the Fashion-MNIST canvases with a pretrained
# backbone, loaded strictly from the checkpoint a config of this folder
# names (keys under 'backbone.', as a Fashion-MNIST classifier saves them).
# Set another checkpoint with
#   --cfg-options model.backbone.init_cfg.checkpoint=PATH
_base_ = './retinanet_r14_fpn_fashion-mnist-det.py'

model = dict(
    backbone=dict(
        init_cfg=dict(
            _delete_=True,
            type='StrictPretrained',
            checkpoint=None,
            prefix='backbone.')))
