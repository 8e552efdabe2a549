# ST++ on the swin-micro recipe (swin-micro_baseline_fashion-mnist.py) as
# resnet14_stpp_fashion-mnist.py is on resnet14's: KL- loss on
# layer-normalised logits (amplitude 1, tau 1), main cross-entropy on them
# too, 2 subnets per iteration from the default space (the first 1-2 and
# 1-4 blocks of the 2 stages: 8 subnets; the patch merging is never
# dropped), subnet inputs resized to 12, 16, 20, 24 or 28 px.
# size_divisor=4: whole 2x2 patches and even maps for the patch merging
# (6x6 to 14x14, then 3x3 to 7x7); windows pad the maps that are not
# multiples of 7 (pad_small_map=True in the baseline recipe lets maps
# smaller than the window through).
# Speed: 0.51 s per training iteration at batch 128 on one CPU thread, the
# median of the log's 10-iteration means over 50 iterations on this
# project's busy 2-core machine (resnet14_stpp_fashion-mnist.py: 0.74 s
# in the same session), measured with
#   OMP_NUM_THREADS=1 python tools/train.py CONFIG --work-dir work_dirs/t \
#       --cfg-options train_dataloader.dataset.indices=6400 \
#       train_dataloader.num_workers=0 train_cfg.max_epochs=1 \
#       default_hooks.logger.interval=10
_base_ = ['./swin-micro_baseline_fashion-mnist.py']

model = dict(
    type='StimulativeClassifier',
    distill_loss=dict(
        type='KLDirectionLoss', normalize='layernorm', amplitude=1.0,
        tau=1.0),
    subnet_resize=dict(
        type='RandomSubnetResize', min_scale=0.43, size_divisor=4),
    normalize_main_logits=True)
model_wrapper_cfg = dict(type='StimulativeDDP')
custom_hooks = [
    dict(type='SubnetSamplingHook', rule='default', num_subnets=2),
    dict(type='SafeCheckpointHook'),
]
