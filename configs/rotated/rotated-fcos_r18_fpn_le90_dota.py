# Rotated FCOS R18-FPN (oriented boxes, le90) on DOTA-v1.0 1024 px patches: the student alone
# (baseline), the teacher's config (rotated-fcos_r50_fpn_le90_dota.py) with a ResNet-18
# backbone. Needs mmrskd's optional extra "rotated" (pip install -e ".[rotated]").
_base_ = ['./rotated-fcos_r50_fpn_le90_dota.py']
model = dict(
    backbone=dict(depth=18),
    neck=dict(in_channels=[64, 128, 256, 512]))
