# Copyright (c) mmstim contributors. All rights reserved.
# RetinaNet R14-FPN on the Fashion-MNIST canvases, backbone randomly
# initialised: MMDet's practice for training from scratch (BN trained,
# nothing frozen), since frozen statistics of an untrained network would
# be the initial ones.
_base_ = './_base_/retinanet_r14_fpn_fashion-mnist-det.py'

model = dict(
    backbone=dict(
        frozen_stages=-1,
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=False))
