# The ST++ schedule: SGD with Nesterov momentum 0.9, lr 0.2 for a total batch
# of 512, weight decay 1e-4 on all parameters, cosine decay per iteration to
# 0 without warm-up, 200 epochs.
optim_wrapper = dict(
    optimizer=dict(
        type='SGD', lr=0.2, momentum=0.9, weight_decay=1e-4, nesterov=True))
param_scheduler = dict(
    type='CosineAnnealingLR',
    by_epoch=True,
    T_max=200,
    eta_min=0.0,
    convert_to_iter_based=True)
train_cfg = dict(by_epoch=True, max_epochs=200, val_interval=1)
val_cfg = dict()
test_cfg = dict()
# lr 0.2 is for 512 images per iteration (8 GPUs x 64); pass
# --auto-scale-lr to scale it linearly for another total batch.
auto_scale_lr = dict(base_batch_size=512)
