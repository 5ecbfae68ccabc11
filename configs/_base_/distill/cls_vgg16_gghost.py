# ClsDistiller skeleton: G-Ghost RegNetX-8.0GF student; teacher (VGG-16) and
# losses set by the files that inherit.
_base_ = ['../models/gghost_regnetx080.py']

model = dict(
    _delete_=True,
    type='ClsDistiller',
    student={{_base_.model}},
    teacher_cfg=None,
    teacher_ckpt=None,
    distill_losses=dict())

custom_hooks = [dict(type='ExportStudentHook')]
