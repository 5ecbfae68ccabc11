# Faster R-CNN R50-FPN on Airbus aircraft: the teacher trained for 9 epochs instead
# of 3 (_base_/schedules/airbus_det_9e.py), so that it is ahead of its R18-FPN
# student; everything else is faster-rcnn_r50_fpn_airbus.py. Distil from it with
# dynkd_faster-rcnn_r50_r18_airbus.py and model.teacher_ckpt=<its epoch_9.pth>.
_base_ = ['./faster-rcnn_r50_fpn_airbus.py', '../_base_/schedules/airbus_det_9e.py']
train_cfg = {{_base_.airbus_det_9e.train_cfg}}
param_scheduler = {{_base_.airbus_det_9e.param_scheduler}}
