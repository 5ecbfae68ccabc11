# FCOS (anchor-free) R18-FPN on NWPU VHR-10: the student alone (baseline),
# the teacher's config (fcos_r50_fpn_nwpu-vhr10.py) with a ResNet-18 backbone.
_base_ = ['./fcos_r50_fpn_nwpu-vhr10.py']
model = dict(
    backbone=dict(depth=18),
    neck=dict(in_channels=[64, 128, 256, 512]))
