# RetinaNet (single-stage) R50-FPN on DOTA-v1.0 (1024 px patches): the teacher.
_base_ = ['_base_/det/retinanet_r50_fpn_1x.py', '_base_/datasets/dota_det.py']
model = dict(bbox_head=dict(num_classes={{_base_.num_classes}}))
