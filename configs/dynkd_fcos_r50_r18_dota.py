# Dynamic knowledge distillation (TGRS 5613819), FCOS (anchor-free), R50-FPN ->
# R18-FPN on DOTA-v1.0 (1024 px patches): GD on every FPN level, ISD and TSA.
# Teacher: python tools/train.py configs/fcos_r50_fpn_dota.py
_base_ = ['./fcos_r18_fpn_dota.py']
model = dict(
    _delete_=True,
    type='DynamicDetDistiller',
    student={{_base_.model}},
    teacher_cfg='{{fileDirname}}/fcos_r50_fpn_dota.py',
    teacher_ckpt='work_dirs/fcos_r50_fpn_dota/epoch_12.pth',
    gd=dict(k_fg=0.5, k_bg=0.1, w_fg=1.0, w_bg=1.0, tau=0.5, loss_weight=1.0),
    isd=dict(tau_w=1.0, loss_weight=1.0, cls_weight=1.0, box_weight=1.0),
    tsa=dict(gamma_max=1.0, eta=1.0))
custom_hooks = [dict(type='ExportStudentHook')]
