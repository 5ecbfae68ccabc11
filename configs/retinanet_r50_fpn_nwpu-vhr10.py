# RetinaNet (single-stage) R50-FPN on NWPU VHR-10: the teacher.
# Backbones start from scratch (nothing is downloaded); for ImageNet weights
# set model.backbone.init_cfg=dict(type='Pretrained', checkpoint=PATH).
_base_ = [
    'mmdet::_base_/models/retinanet_r50_fpn.py', '_base_/datasets/nwpu_vhr10_det.py',
    'mmdet::_base_/schedules/schedule_1x.py', '_base_/det_runtime.py'
]
model = dict(
    backbone=dict(init_cfg=None),
    bbox_head=dict(num_classes={{_base_.num_classes}}))
optim_wrapper = dict(optimizer=dict(lr=0.01))
auto_scale_lr = dict(enable=False, base_batch_size=16)
