# Dynamic knowledge distillation (TGRS 5613819) on oriented boxes, two-stage: Oriented R-CNN
# R50-FPN -> R18-FPN on DOTA-v1.0 1024 px patches (le90). GD on every FPN level with the
# valuable regions inside the oriented boxes; the oriented RPN keeps its own loss; ISD and TSA
# on the RoIs the student's RoI head samples (the teacher's RoI head scores the same rotated
# RoIs; TSA with the rotated IoU of each positive's decoded box).
# Needs mmrskd's optional extra "rotated" (pip install -e ".[rotated]").
# Teacher: python tools/train.py configs/rotated/oriented-rcnn_r50_fpn_le90_dota.py
_base_ = ['./oriented-rcnn_r18_fpn_le90_dota.py']
model = dict(
    _delete_=True,
    type='mmdet.DynamicDetDistiller',
    student={{_base_.model}},
    teacher_cfg='{{fileDirname}}/oriented-rcnn_r50_fpn_le90_dota.py',
    teacher_ckpt='work_dirs/oriented-rcnn_r50_fpn_le90_dota/epoch_12.pth',
    gd=dict(k_fg=0.5, k_bg=0.1, w_fg=1.0, w_bg=1.0, tau=0.5, loss_weight=1.0),
    isd=dict(tau_w=1.0, loss_weight=1.0, cls_weight=1.0, box_weight=1.0),
    tsa=dict(gamma_max=1.0, eta=1.0))
custom_hooks = [dict(type='CPUOpsCheckHook'), dict(type='ExportStudentHook')]
