# Faster R-CNN (two-stage) R50-FPN on NWPU VHR-10: the teacher.
_base_ = ['_base_/det/faster-rcnn_r50_fpn_1x.py', '_base_/datasets/nwpu_vhr10_det.py']
model = dict(roi_head=dict(bbox_head=dict(num_classes={{_base_.num_classes}})))
