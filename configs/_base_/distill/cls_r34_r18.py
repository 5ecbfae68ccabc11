# ClsDistiller skeleton: ResNet-18 student (the model of
# ../models/resnet18.py), teacher and losses set by the files that inherit.
_base_ = ['../models/resnet18.py']

model = dict(
    _delete_=True,
    type='ClsDistiller',
    student={{_base_.model}},
    teacher_cfg=None,
    teacher_ckpt=None,
    distill_losses=dict())

# Write <work_dir>/student_final.pth (plain mmpretrain checkpoint) at the end.
custom_hooks = [dict(type='ExportStudentHook')]
