# Vanilla stimulative training (NeurIPS 2022, "Stimulative Training of
# Residual Networks: A Social Psychology Perspective of Loafing") on the ST++
# ImageNet recipe: plain KL to the full network's prediction, one subnet per
# iteration from the default space (any depth >= 1 per stage), full-size
# subnet inputs, plain cross-entropy. First rung of the ST++ ablation
# ladder (configs/ablation/). No published 200-epoch ImageNet number.
_base_ = ['./resnet50_stim_imagenet.py']

model = dict(
    distill_loss=dict(normalize=None),
    subnet_resize=None,
    normalize_main_logits=False)
custom_hooks = [
    dict(type='SubnetSamplingHook', rule='default', num_subnets=1),
    dict(type='SafeCheckpointHook'),
]
