# FCOS (anchor-free) R50-FPN (the model of _base_/models/fcos_r50_fpn.py) with
# mmdet's 1x schedule and the mmrskd runtime; the
# dataset file that a top-level config adds sets num_classes.
# Backbones start from scratch (nothing is downloaded), so no stage is frozen and
# BatchNorm trains; for ImageNet weights set model.backbone.init_cfg=dict(
# type='Pretrained', checkpoint=PATH), frozen_stages=1, norm_eval=True as mmdet does.
_base_ = [
    '../models/fcos_r50_fpn.py', 'mmdet::_base_/schedules/schedule_1x.py',
    '../det_runtime.py'
]
model = dict(backbone=dict(init_cfg=None, frozen_stages=-1, norm_eval=False))
optim_wrapper = dict(
    optimizer=dict(lr=0.01),
    paramwise_cfg=dict(bias_lr_mult=2., bias_decay_mult=0.),
    clip_grad=dict(max_norm=35, norm_type=2))
auto_scale_lr = dict(enable=False, base_batch_size=16)
