# Baseline for resnet50_stim_imagenet.py: the same ResNet-50, data, schedule
# and initialisation, trained without stimulative training (the fair
# comparison). Not a published number: ST++ reports 80.50% with ST; the
# closest MMPretrain reference is resnet50_8xb32_in1k at 76.55% (100 epochs,
# step schedule).
_base_ = [
    'mmpretrain::_base_/models/resnet50.py',
    './_base_/datasets/imagenet_stpp.py',
    './_base_/schedules/imagenet_stpp_200e.py',
    'mmpretrain::_base_/default_runtime.py',
    './_base_/mmstim_runtime.py',
]

model = dict(backbone=dict(zero_init_residual=False))
default_hooks = dict(logger=dict(type='LoggerHook', interval=100))
custom_hooks = [dict(type='SafeCheckpointHook')]
