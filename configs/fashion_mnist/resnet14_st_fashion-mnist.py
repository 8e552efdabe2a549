# Vanilla stimulative training (NeurIPS 2022) on the baseline recipe: plain
# KL to the full network, one subnet per iteration from the default space,
# full-size subnet inputs.
_base_ = ['./resnet14_baseline_fashion-mnist.py']

model = dict(
    type='StimulativeClassifier',
    distill_loss=dict(type='KLDirectionLoss', normalize=None, tau=1.0),
    subnet_resize=None,
    normalize_main_logits=False)
model_wrapper_cfg = dict(type='StimulativeDDP')
custom_hooks = [
    dict(type='SubnetSamplingHook', rule='default', num_subnets=1),
    dict(type='SafeCheckpointHook'),
]
