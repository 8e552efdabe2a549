# Baseline for convnext-tiny_stim_imagenet.py: MMPretrain's published
# ConvNeXt-T recipe, inherited unchanged from
#   mmpretrain::convnext/convnext-tiny_32xb128_in1k.py
# (published top-1 82.14 with the EMA weights, 81.95 without), i.e. AdamW
# lr 4e-3 for a total batch of 4096 (32 GPUs x 128; --auto-scale-lr for
# another total), weight decay 0.05, 20 warm-up epochs then cosine to 1e-5
# over 300 epochs, drop path 0.1, layer scale 1e-6, RandAugment, random
# erasing, label smoothing 0.1, Mixup 0.8 / CutMix 1.0 and an EMA of the
# weights (momentum 1e-4). Checkpoints hold the EMA weights under
# 'state_dict' (MMEngine's EMAHook swaps them in) and the raw ones under
# 'ema_state_dict'.
# mmstim adds only the plugin import and SafeCheckpointHook (checkpoints
# load with torch.load(weights_only=True)); custom_hooks is a list, so
# MMPretrain's EMAHook is restated here.
#   bash tools/dist_train.sh configs/convnext-tiny_baseline_imagenet.py 8 \
#       --auto-scale-lr
_base_ = [
    'mmpretrain::convnext/convnext-tiny_32xb128_in1k.py',
    './_base_/mmstim_runtime.py',
]

custom_hooks = [
    dict(type='EMAHook', momentum=1e-4, priority='ABOVE_NORMAL'),
    dict(type='SafeCheckpointHook'),
]
