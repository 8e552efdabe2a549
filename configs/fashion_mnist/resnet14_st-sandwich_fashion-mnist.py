# Vanilla ST (resnet14_st_fashion-mnist.py) with the sandwich rule: every
# iteration trains the shallowest subnet (one block per stage, 1-1-1) and one
# subnet drawn from the default space, each pulled towards the full network
# by plain KL on full-size inputs. Two subnet passes per iteration where
# vanilla ST has one: for users who deploy several depths.
_base_ = ['./resnet14_st_fashion-mnist.py']

custom_hooks = [
    dict(type='SubnetSamplingHook', rule='sandwich', num_subnets=2),
    dict(type='SafeCheckpointHook'),
]
