# A short CPU schedule: SGD (Nesterov, momentum 0.9), lr 0.1 for batch 128,
# weight decay 5e-4, cosine decay per iteration to 0, 10 epochs.
optim_wrapper = dict(
    optimizer=dict(
        type='SGD', lr=0.1, momentum=0.9, weight_decay=5e-4, nesterov=True))
param_scheduler = dict(
    type='CosineAnnealingLR',
    by_epoch=True,
    T_max=10,
    eta_min=0.0,
    convert_to_iter_based=True)
train_cfg = dict(by_epoch=True, max_epochs=10, val_interval=10)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=128)
