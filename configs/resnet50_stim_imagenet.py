# ST++ ResNet-50 on ImageNet-1k, 200 epochs: the published recipe.
# Source: "Stimulative Training++: Go Beyond The Performance Limits of
# Residual Networks" (arXiv 2305.02507) and the authors' public code.
# Published top-1: 80.50% (vs 76.55% for MMPretrain's resnet50_8xb32_in1k).
# 8 GPUs x 64 images:
#   bash tools/dist_train.sh configs/resnet50_stim_imagenet.py 8
# 6 subnets per iteration from the published ResNet-50 space ('paper').
_base_ = [
    './_base_/models/resnet50_stim.py',
    './_base_/datasets/imagenet_stpp.py',
    './_base_/schedules/imagenet_stpp_200e.py',
    'mmpretrain::_base_/default_runtime.py',
    './_base_/mmstim_runtime.py',
]

# SafeCheckpointHook: checkpoints load with torch.load(weights_only=True).
custom_hooks = [
    dict(type='SubnetSamplingHook', rule='paper', num_subnets=6),
    dict(type='SafeCheckpointHook'),
]
default_hooks = dict(logger=dict(type='LoggerHook', interval=100))
