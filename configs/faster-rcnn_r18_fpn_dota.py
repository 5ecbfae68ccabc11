# Faster R-CNN (two-stage) R18-FPN on DOTA-v1.0 (1024 px patches): the student alone (baseline).
# Backbones start from scratch (nothing is downloaded); for ImageNet weights
# set model.backbone.init_cfg=dict(type='Pretrained', checkpoint=PATH).
_base_ = [
    'mmdet::_base_/models/faster-rcnn_r50_fpn.py', '_base_/datasets/dota_det.py',
    'mmdet::_base_/schedules/schedule_1x.py', '_base_/det_runtime.py'
]
model = dict(
    backbone=dict(depth=18, init_cfg=None),
    neck=dict(in_channels=[64, 128, 256, 512]),
    roi_head=dict(bbox_head=dict(num_classes={{_base_.num_classes}})))
auto_scale_lr = dict(enable=False, base_batch_size=16)
