# ResNet-50 (MMPretrain's, v1.5) trained by ST++: KL- loss (layer-normalised
# logits, amplitude 1, tau 1), main cross-entropy on the normalised logits,
# subnet inputs resized to 0.43-1.0 of the crop. The initialisation is the
# authors': Kaiming-normal convs (fan_out), BN weight 1 / bias 0 with no
# zero-init of the last BN of each block, FC N(0, 0.01).
model = dict(
    type='StimulativeClassifier',
    backbone=dict(
        type='ResNet',
        depth=50,
        num_stages=4,
        out_indices=(3, ),
        style='pytorch',
        zero_init_residual=False),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=1000,
        in_channels=2048,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        topk=(1, 5)),
    distill_loss=dict(
        type='KLDirectionLoss', normalize='layernorm', amplitude=1.0,
        tau=1.0),
    subnet_resize=dict(type='RandomSubnetResize', min_scale=0.43),
    normalize_main_logits=True)

# Several GPUs must run the model's own train step (MMEngine's default DDP
# wrapper would silently train the baseline).
model_wrapper_cfg = dict(type='StimulativeDDP')
