# Stochastic depth (MMPretrain's drop_path_rate 0.1) on the baseline recipe:
# the classic way of training random depth subnetworks, for comparison.
_base_ = ['./resnet14_baseline_fashion-mnist.py']

model = dict(backbone=dict(drop_path_rate=0.1))
