# Faster R-CNN (two-stage) R50-FPN on Airbus aircraft (256 px patches at half
# resolution): the teacher, with the CPU-scale schedule of the Airbus protocol
# (the same as retinanet_r50_fpn_airbus.py).
_base_ = [
    '../_base_/det/faster-rcnn_r50_fpn_1x.py', '../_base_/datasets/airbus_det.py',
    '../_base_/schedules/airbus_det_3e.py'
]
# 128 RoIs sampled per image for the R-CNN head (mmdet's 512): a 256 px patch
# holds at most a few aircraft, and with 512 the RoIAlign (one CPU thread in
# mmcv) and the 12,544 x 1,024 fc of 4,096 RoIs per batch take two thirds of
# a training step: 14.2 s against 6.6 s per step with 128 (R18 student, one
# thread, AMD EPYC). Detectron2's fine-tuning tutorial uses 128 for the same
# reason. Teacher, student and every distiller of the protocol inherit it.
model = dict(
    roi_head=dict(bbox_head=dict(num_classes={{_base_.num_classes}})),
    train_cfg=dict(rcnn=dict(sampler=dict(num=128))))
train_cfg = {{_base_.airbus_det_3e.train_cfg}}
param_scheduler = {{_base_.airbus_det_3e.param_scheduler}}
optim_wrapper = {{_base_.airbus_det_3e.optim_wrapper}}
default_hooks = dict(logger=dict(interval=10))
