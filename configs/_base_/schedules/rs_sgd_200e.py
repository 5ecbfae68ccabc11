# The scene-distillation papers' schedule (ISDM, Remote Sensing 2024):
# SGD lr 0.1, momentum 0.9, weight decay 5e-4, 200 epochs,
# lr x0.1 at epochs 60 / 120 / 160, batch 64 (see the dataset files).
optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=5e-4))

param_scheduler = dict(
    type='MultiStepLR', by_epoch=True, milestones=[60, 120, 160], gamma=0.1)

train_cfg = dict(by_epoch=True, max_epochs=200, val_interval=5)
val_cfg = dict()
test_cfg = dict()

# lr 0.1 is for a total batch of 64; `--auto-scale-lr` rescales it.
auto_scale_lr = dict(base_batch_size=64)
