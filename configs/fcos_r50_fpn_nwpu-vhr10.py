# FCOS (anchor-free) R50-FPN on NWPU VHR-10: the teacher.
_base_ = ['_base_/det/fcos_r50_fpn_1x.py', '_base_/datasets/nwpu_vhr10_det.py']
model = dict(bbox_head=dict(num_classes={{_base_.num_classes}}))
