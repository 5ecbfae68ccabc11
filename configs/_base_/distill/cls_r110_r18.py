# ClsDistiller skeleton: small-stem ResNet-18 student (../models/
# resnet18_cifar.py); teacher and losses set by the files that inherit.
_base_ = ['../models/resnet18_cifar.py']

model = dict(
    _delete_=True,
    type='ClsDistiller',
    student={{_base_.model}},
    teacher_cfg=None,
    teacher_ckpt=None,
    distill_losses=dict())

custom_hooks = [dict(type='ExportStudentHook')]
