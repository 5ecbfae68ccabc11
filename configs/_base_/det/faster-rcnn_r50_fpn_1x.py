# Faster R-CNN (two-stage) R50-FPN with mmdet's 1x schedule and the mmrskd runtime; the
# dataset file that a top-level config adds sets num_classes.
# Backbones start from scratch (nothing is downloaded), so no stage is frozen and
# BatchNorm trains; for ImageNet weights set model.backbone.init_cfg=dict(
# type='Pretrained', checkpoint=PATH), frozen_stages=1, norm_eval=True as mmdet does.
_base_ = [
    'mmdet::_base_/models/faster-rcnn_r50_fpn.py', 'mmdet::_base_/schedules/schedule_1x.py',
    '../det_runtime.py'
]
model = dict(backbone=dict(init_cfg=None, frozen_stages=-1, norm_eval=False))
auto_scale_lr = dict(enable=False, base_batch_size=16)
