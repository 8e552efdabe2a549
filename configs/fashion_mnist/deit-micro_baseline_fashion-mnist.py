# Baseline: a very small DeiT-style ViT on Fashion-MNIST, CPU (plain
# training; deit-micro_stpp_fashion-mnist.py adds ST++).
# "micro" (made up here): ViT with a class token, 4x4 patches of the one
# grey channel (28x28 -> 7x7 tokens + the class token), 6 pre-norm encoder
# layers of width 64 (2 heads, MLP 128), VisionTransformerClsHead on the
# class token, 206k parameters. No drop path (MMPretrain's DeiT-S has none
# either).
# MMPretrain's DeiT initialisation (TruncNormal 0.02 for linear layers,
# LayerNorm 1/0) and optimiser family (AdamW, weight decay 0.05, none on
# norms, biases, the class token and the position embedding), at lr 1e-3
# for batch 128 with the shared 10-epoch cosine schedule, no warm-up. The
# classifier starts from N(0, 0.1) instead of DeiT's zeros, for the reason
# given in resnet14_fashion_mnist.py and deit-small_stim_imagenet.py (zero
# or tiny logits stall the cross-entropy on layer-normalised logits of
# ST++); every method uses the same initialisation.
# Speed: 0.37 s per training iteration at batch 128 on one CPU thread, the
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
        type='VisionTransformer',
        arch=dict(
            embed_dims=64,
            num_layers=6,
            num_heads=2,
            feedforward_channels=128),
        img_size=28,
        patch_size=4,
        in_channels=1),
    neck=None,
    head=dict(
        type='VisionTransformerClsHead',
        num_classes=10,
        in_channels=64,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        topk=(1, ),
        init_cfg=dict(type='Normal', layer='Linear', std=0.1)),
    init_cfg=[
        dict(type='TruncNormal', layer='Linear', std=.02),
        dict(type='Constant', layer='LayerNorm', val=1., bias=0.),
    ])
optim_wrapper = dict(
    optimizer=dict(_delete_=True, type='AdamW', lr=1e-3, weight_decay=0.05),
    paramwise_cfg=dict(
        norm_decay_mult=0.0,
        bias_decay_mult=0.0,
        custom_keys={
            '.cls_token': dict(decay_mult=0.0),
            '.pos_embed': dict(decay_mult=0.0)
        }))

custom_hooks = [dict(type='SafeCheckpointHook')]
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=50),
    checkpoint=dict(type='CheckpointHook', interval=10, max_keep_ckpts=1))
randomness = dict(seed=0)
