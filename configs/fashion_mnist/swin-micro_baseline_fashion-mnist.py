# Baseline: a very small Swin Transformer on Fashion-MNIST, CPU (plain
# training; swin-micro_stpp_fashion-mnist.py adds ST++).
# "micro" (made up here): 2x2 patches of the one grey channel, 2 stages of
# 2 and 4 Swin blocks (widths 16 and 32, 1 and 2 heads), window 7, so the
# 28x28 input gives 14x14 (2x2 windows) and, after one patch merging, 7x7
# (one window); global average pooling, 62k parameters. No drop path.
# pad_small_map=True: a map smaller than the window (the smaller inputs of
# ST++'s subnets: a 12 px input gives 6x6 and 3x3) is padded to the window
# instead of refused (MMPretrain's Swin asserts otherwise). It also keeps
# the shifted windows of the 7x7 stage (the original Swin drops the shift
# when the map is one window), here for every method alike.
# MMPretrain's Swin initialisation (TruncNormal 0.02 for linear layers,
# LayerNorm 1/0) and optimiser family (AdamW, weight decay 0.05, none on
# norms, biases and the relative position tables), at lr 1e-3 for batch 128
# with the shared 10-epoch cosine schedule, no warm-up. The classifier
# starts from N(0, 0.1) as in resnet14_fashion_mnist.py, for the same
# reason; every method uses the same initialisation.
# Speed: 0.30 s per training iteration at batch 128 on one CPU thread, the
# median of the log's 10-iteration means over 50 iterations on this
# project's busy 2-core machine, measured with
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
        type='SwinTransformer',
        arch=dict(embed_dims=16, depths=[2, 4], num_heads=[1, 2]),
        img_size=28,
        patch_size=2,
        in_channels=1,
        window_size=7,
        out_indices=(1, ),
        drop_path_rate=0.0,
        pad_small_map=True),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=10,
        in_channels=32,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        topk=(1, ),
        init_cfg=dict(type='Normal', layer='Linear', std=0.1)),
    init_cfg=[
        dict(type='TruncNormal', layer='Linear', std=.02, bias=0.),
        dict(type='Constant', layer='LayerNorm', val=1., bias=0.),
    ])
optim_wrapper = dict(
    optimizer=dict(_delete_=True, type='AdamW', lr=1e-3, weight_decay=0.05),
    paramwise_cfg=dict(
        norm_decay_mult=0.0,
        bias_decay_mult=0.0,
        custom_keys={
            '.relative_position_bias_table': dict(decay_mult=0.0)
        }))

custom_hooks = [dict(type='SafeCheckpointHook')]
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=50),
    checkpoint=dict(type='CheckpointHook', interval=10, max_keep_ckpts=1))
randomness = dict(seed=0)
