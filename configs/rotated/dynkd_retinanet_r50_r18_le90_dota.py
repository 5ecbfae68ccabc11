# Dynamic knowledge distillation (TGRS 5613819) on oriented boxes: rotated RetinaNet R50-FPN ->
# R18-FPN on DOTA-v1.0 1024 px patches (le90). GD on every FPN level with the valuable regions
# inside the oriented boxes, ISD with the head's own rotated-IoU assignment, TSA on the rotated
# regression (the positives' rotated IoU, the oriented boxes' aspect and size).
# Needs mmrskd's optional extra "rotated" (pip install -e ".[rotated]").
# Teacher: python tools/train.py configs/rotated/retinanet_r50_fpn_le90_dota.py
_base_ = ['./retinanet_r18_fpn_le90_dota.py']
model = dict(
    _delete_=True,
    type='mmdet.DynamicDetDistiller',
    student={{_base_.model}},
    teacher_cfg='{{fileDirname}}/retinanet_r50_fpn_le90_dota.py',
    teacher_ckpt='work_dirs/retinanet_r50_fpn_le90_dota/epoch_12.pth',
    gd=dict(k_fg=0.5, k_bg=0.1, w_fg=1.0, w_bg=1.0, tau=0.5, loss_weight=1.0),
    isd=dict(tau_w=1.0, loss_weight=1.0, cls_weight=1.0, box_weight=1.0),
    tsa=dict(gamma_max=1.0, eta=1.0))
custom_hooks = [dict(type='CPUOpsCheckHook'), dict(type='ExportStudentHook')]
