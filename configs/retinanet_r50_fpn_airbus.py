# RetinaNet (single-stage) R50-FPN on Airbus aircraft (512 px patches): the teacher.
_base_ = ['_base_/det/retinanet_r50_fpn.py', '_base_/datasets/airbus_det.py']
model = dict(bbox_head=dict(num_classes={{_base_.num_classes}}))
