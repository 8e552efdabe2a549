# ST++ (resnet14_stpp_fashion-mnist.py) with the sandwich rule: of the 2
# subnets of every iteration the first is the shallowest (1-1-1), the second
# is drawn from the default space; losses and resized subnet inputs are
# ST++'s, so an iteration costs what an ST++ iteration costs.
_base_ = ['./resnet14_stpp_fashion-mnist.py']

custom_hooks = [
    dict(type='SubnetSamplingHook', rule='sandwich', num_subnets=2),
    dict(type='SafeCheckpointHook'),
]
