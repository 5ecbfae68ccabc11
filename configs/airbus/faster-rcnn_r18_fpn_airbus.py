# Faster R-CNN (two-stage) R18-FPN on Airbus aircraft (256 px patches): the student
# alone (baseline), the teacher's config (faster-rcnn_r50_fpn_airbus.py) with a
# ResNet-18 backbone.
_base_ = ['./faster-rcnn_r50_fpn_airbus.py']
model = dict(
    backbone=dict(depth=18),
    neck=dict(in_channels=[64, 128, 256, 512]))
