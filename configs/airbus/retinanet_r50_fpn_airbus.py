# RetinaNet (single-stage) R50-FPN on Airbus aircraft (256 px patches at half
# resolution): the teacher, with a CPU-scale schedule (2 cores, no GPU).
_base_ = [
    '../_base_/det/retinanet_r50_fpn_1x.py', '../_base_/datasets/airbus_det.py'
]
model = dict(bbox_head=dict(num_classes={{_base_.num_classes}}))

# 3 epochs of 143 iterations (batch 8), 100-iteration warm-up, cosine decay;
# gradients clipped because every layer starts from scratch.
max_epochs = 3
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0,
         end=100),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=0, end=max_epochs,
         T_max=max_epochs, eta_min=1e-4, convert_to_iter_based=True),
]
optim_wrapper = dict(optimizer=dict(lr=0.01),
                     clip_grad=dict(max_norm=35, norm_type=2))
default_hooks = dict(logger=dict(interval=10))
