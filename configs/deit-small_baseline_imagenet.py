# Baseline for deit-small_stim_imagenet.py: MMPretrain's published DeiT-S
# recipe, inherited unchanged from
#   mmpretrain::deit/deit-small_4xb256_in1k.py   (published top-1 80.69)
# i.e. ViT-S/16 at 224 px, no distillation token, no drop path and no EMA
# (MMPretrain removed both for the small and tiny DeiTs), AdamW lr 1e-3 for
# a total batch of 1024 (4 GPUs x 256; --auto-scale-lr for another total),
# weight decay 0.05, 20 warm-up epochs then cosine to 1e-5 over 300 epochs,
# gradient clipping at norm 5, RandAugment, random erasing, label smoothing
# 0.1, Mixup 0.8 / CutMix 1.0, zero-initialised classifier.
# mmstim adds only the plugin import and SafeCheckpointHook (checkpoints
# load with torch.load(weights_only=True)).
#   bash tools/dist_train.sh configs/deit-small_baseline_imagenet.py 4
_base_ = [
    'mmpretrain::deit/deit-small_4xb256_in1k.py',
    './_base_/mmstim_runtime.py',
]

custom_hooks = [dict(type='SafeCheckpointHook')]
