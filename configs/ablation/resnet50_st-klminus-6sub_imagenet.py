# ST++ ablation, rung 3: + 6 subnets per iteration (default space).
# Next rung: resnet50_st-klminus-6sub-resize_imagenet.py.
_base_ = ['./resnet50_st-klminus_imagenet.py']

custom_hooks = [
    dict(type='SubnetSamplingHook', rule='default', num_subnets=6),
    dict(type='SafeCheckpointHook'),
]
