# Faster R-CNN (two-stage) R50-FPN on DOTA-v1.0 (1024 px patches): the teacher.
# Backbones start from scratch (nothing is downloaded); for ImageNet weights
# set model.backbone.init_cfg=dict(type='Pretrained', checkpoint=PATH).
_base_ = [
    'mmdet::_base_/models/faster-rcnn_r50_fpn.py', '_base_/datasets/dota_det.py',
    'mmdet::_base_/schedules/schedule_1x.py', '_base_/det_runtime.py'
]
model = dict(
    backbone=dict(init_cfg=None),
    roi_head=dict(bbox_head=dict(num_classes={{_base_.num_classes}})))
auto_scale_lr = dict(enable=False, base_batch_size=16)
