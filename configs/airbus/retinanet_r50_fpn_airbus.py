# RetinaNet (single-stage) R50-FPN on Airbus aircraft (256 px patches at half
# resolution): the teacher, with the CPU-scale schedule of the Airbus protocol.
_base_ = [
    '../_base_/det/retinanet_r50_fpn_1x.py', '../_base_/datasets/airbus_det.py',
    '../_base_/schedules/airbus_det_3e.py'
]
model = dict(bbox_head=dict(num_classes={{_base_.num_classes}}))
train_cfg = {{_base_.airbus_det_3e.train_cfg}}
param_scheduler = {{_base_.airbus_det_3e.param_scheduler}}
optim_wrapper = {{_base_.airbus_det_3e.optim_wrapper}}
default_hooks = dict(logger=dict(interval=10))
