# Baseline: MobileNetV2 at width 0.25 on Fashion-MNIST, CPU (plain
# training; mobilenet-v2-025_stpp_fashion-mnist.py adds ST++).
# MMPretrain's MobileNetV2 (widen_factor=0.25: 8 to 80 channels in the
# inverted residuals, the final 1x1 convolution keeps 1280), global average
# pooling, 251k parameters; 28x28 -> 14, 14, 7, 4, 2, 2, 1, 1 through the
# stem and the 7 layers. MMPretrain's initialisation; the classifier from
# N(0, 0.1) as in resnet14_fashion_mnist.py (measured over the first 50
# iterations on 6,400 training images: with MMPretrain's N(0, 0.01) the ST++
# main loss only fell from 2.76 to 2.50, with N(0, 0.1) to 1.44). The shared
# schedule (Nesterov SGD, weight decay 5e-4, cosine over 10 epochs) at half
# its lr, 0.05: at 0.1 the baseline's loss rose to 7.4 in the first 10
# iterations (2.0 after 50; 1.5 with lr 0.05). MMPretrain's own MobileNetV2
# recipe uses lr 0.045 for batch 256.
# One input channel: MMPretrain's MobileNetV2 hard-codes 3 input channels,
# so the data preprocessor turns each grey image into 3 equal channels: its
# mean and std have 3 (equal) entries, and normalising a 1-channel image by
# them broadcasts it to 3 channels, for the loader's stacked batches and
# its lists of images alike (the first convolution sums the 3 copies).
# Speed: 0.18 s per training iteration at batch 128 on one CPU thread, the
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

data_preprocessor = dict(mean=[72.94] * 3, std=[90.02] * 3)
model = dict(
    type='ImageClassifier',
    backbone=dict(type='MobileNetV2', widen_factor=0.25),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=10,
        in_channels=1280,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        topk=(1, ),
        init_cfg=dict(type='Normal', layer='Linear', std=0.1)))
optim_wrapper = dict(optimizer=dict(lr=0.05))

custom_hooks = [dict(type='SafeCheckpointHook')]
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=50),
    checkpoint=dict(type='CheckpointHook', interval=10, max_keep_ckpts=1))
randomness = dict(seed=0)
