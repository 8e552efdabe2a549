# ST++ on the mobilenet-v2-025 recipe
# (mobilenet-v2-025_baseline_fashion-mnist.py) as
# resnet14_stpp_fashion-mnist.py is on resnet14's: KL- loss on
# layer-normalised logits (amplitude 1, tau 1), main cross-entropy on them
# too, 2 subnets per iteration from the default space, subnet inputs
# resized to any integer side from 12 to 28 px (the padded convolutions
# take any side, as ResNet's do). Only inverted residuals with an identity
# shortcut (stride 1, same channels) are ever dropped, never a layer's
# first: subnets keep 1-2, 1-3, 1-4, 1-3 and 1-3 blocks of layers 2-6
# (layers 1 and 7 have one block): 216 subnets. BN running statistics are
# updated by the full network only.
# Speed: 0.44 s per training iteration at batch 128 on one CPU thread, the
# median of the log's 10-iteration means over 50 iterations on this
# project's busy 2-core machine (resnet14_stpp_fashion-mnist.py: 0.74 s
# in the same session), measured with
#   OMP_NUM_THREADS=1 python tools/train.py CONFIG --work-dir work_dirs/t \
#       --cfg-options train_dataloader.dataset.indices=6400 \
#       train_dataloader.num_workers=0 train_cfg.max_epochs=1 \
#       default_hooks.logger.interval=10
_base_ = ['./mobilenet-v2-025_baseline_fashion-mnist.py']

model = dict(
    type='StimulativeClassifier',
    distill_loss=dict(
        type='KLDirectionLoss', normalize='layernorm', amplitude=1.0,
        tau=1.0),
    subnet_resize=dict(type='RandomSubnetResize', min_scale=0.43),
    normalize_main_logits=True)
model_wrapper_cfg = dict(type='StimulativeDDP')
custom_hooks = [
    dict(type='SubnetSamplingHook', rule='default', num_subnets=2),
    dict(type='SafeCheckpointHook'),
]
