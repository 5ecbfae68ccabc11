# Dynamic knowledge distillation (TGRS 5613819), RetinaNet (single-stage), R50-FPN ->
# R18-FPN on NWPU VHR-10: GD on every FPN level, ISD and TSA.
# Teacher: python tools/train.py configs/retinanet_r50_fpn_nwpu-vhr10.py
_base_ = ['./retinanet_r18_fpn_nwpu-vhr10.py']
model = dict(
    _delete_=True,
    type='DynamicDetDistiller',
    student={{_base_.model}},
    teacher_cfg='{{fileDirname}}/retinanet_r50_fpn_nwpu-vhr10.py',
    teacher_ckpt='work_dirs/retinanet_r50_fpn_nwpu-vhr10/epoch_12.pth',
    gd=dict(k_fg=0.5, k_bg=0.1, w_fg=1.0, w_bg=1.0, tau=0.5, loss_weight=1.0),
    isd=dict(tau_w=1.0, loss_weight=1.0, cls_weight=1.0, box_weight=1.0),
    tsa=dict(gamma_max=1.0, eta=1.0))
custom_hooks = [dict(type='ExportStudentHook')]
