# Copyright (c) mmstim contributors. All rights reserved.
# The RetinaNet of the Fashion-MNIST canvases on the 1-1-1 architecture
# (ResNet-8: one basic block per stage, 46% of ResNet-14's backbone MACs),
# pretrained; the key names are those of the ResNet-14.
_base_ = './retinanet_r14-pre_fpn_fashion-mnist-det.py'

model = dict(
    backbone=dict(
        type='mmpretrain.AnyDepthResNet',
        arch='ResNet_CIFAR',
        stage_blocks=(1, 1, 1)))
