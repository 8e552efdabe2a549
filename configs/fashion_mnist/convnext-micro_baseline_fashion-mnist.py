# Baseline: a very small ConvNeXt on Fashion-MNIST, CPU (plain training;
# convnext-micro_stpp_fashion-mnist.py adds ST++).
# "micro" (made up here, smaller than MMPretrain's 'atto'): 3 stages of 2
# ConvNeXt blocks with 16, 32 and 64 channels, a 2x2 stride-2 patchify stem
# for one grey input channel: 28x28 -> 14, 7, 3 (the last downsampling
# drops the 7th row and column, as ConvNeXt does on any odd map), 110k
# parameters. No drop path (the stochastic-depth comparison has its own
# config family, resnet14_droppath_fashion-mnist.py).
# MMPretrain's ConvNeXt initialisation (TruncNormal 0.02 for convolutions
# and linear layers, layer scale 1e-6) and optimiser family (AdamW, weight
# decay 0.05, none on norms and biases), at lr 1e-3 for batch 128 with the
# shared 10-epoch cosine schedule. The classifier starts from N(0, 0.1) as in
# resnet14_fashion_mnist.py, for the same reason (a tiny logit spread stalls
# the cross-entropy on layer-normalised logits of ST++); every method uses
# the same initialisation.
# Speed: 0.17 s per training iteration at batch 128 on one CPU thread, the
# median of the log's 10-iteration means over 50 iterations on this
# project's busy 2-core machine (resnet14_baseline_fashion-mnist.py: 0.34 s
# in the same session), measured with
#   OMP_NUM_THREADS=1 python tools/train.py CONFIG --work-dir work_dirs/t \
#       --cfg-options train_dataloader.dataset.indices=6400 \
#       train_dataloader.num_workers=0 train_cfg.max_epochs=1 \
#       default_hooks.logger.interval=10
_base_ = [
    '../_base_/datasets/fashion_mnist.py',
    '../_base_/schedules/fashion_mnist_cpu.py',
    'mmpretrain::_base_/default_runtime.py',
    '../_base_/mmstim_runtime.py',
]

model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='ConvNeXt',
        arch=dict(depths=[2, 2, 2], channels=[16, 32, 64]),
        in_channels=1,
        stem_patch_size=2,
        out_indices=(2, ),
        drop_path_rate=0.0),
    head=dict(
        type='LinearClsHead',
        num_classes=10,
        in_channels=64,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        topk=(1, ),
        init_cfg=dict(type='Normal', layer='Linear', std=0.1)),
    init_cfg=dict(
        type='TruncNormal', layer=['Conv2d', 'Linear'], std=.02, bias=0.))
optim_wrapper = dict(
    optimizer=dict(_delete_=True, type='AdamW', lr=1e-3, weight_decay=0.05),
    paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0))

custom_hooks = [dict(type='SafeCheckpointHook')]
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=50),
    checkpoint=dict(type='CheckpointHook', interval=10, max_keep_ckpts=1))
randomness = dict(seed=0)
