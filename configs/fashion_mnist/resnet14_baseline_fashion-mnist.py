# Baseline: a small ResNet (resnet14_fashion_mnist) on Fashion-MNIST, CPU.
# Plain training; the reference every other fashion_mnist config is
# compared with (tools/benchmark/accuracy.py).
_base_ = [
    '../_base_/models/resnet14_fashion_mnist.py',
    '../_base_/datasets/fashion_mnist.py',
    '../_base_/schedules/fashion_mnist_cpu.py',
    'mmpretrain::_base_/default_runtime.py',
    '../_base_/mmstim_runtime.py',
]

custom_hooks = [dict(type='SafeCheckpointHook')]
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=50),
    checkpoint=dict(type='CheckpointHook', interval=10, max_keep_ckpts=1))
randomness = dict(seed=0)
