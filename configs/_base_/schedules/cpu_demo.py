# A short CPU schedule for the demo and smoke runs (not the papers').
optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.05, momentum=0.9, weight_decay=5e-4))
param_scheduler = dict(type='CosineAnnealingLR', by_epoch=True, T_max=8,
                       eta_min=1e-4)
train_cfg = dict(by_epoch=True, max_epochs=8, val_interval=8)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=32)
