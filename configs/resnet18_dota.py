# resnet18 on DOTA-v1.0 object crops (64 px): the student alone.
_base_ = [
    '_base_/models/resnet18_cifar.py', '_base_/datasets/dota_cls_64px.py',
    '_base_/schedules/cifar_sgd_240e.py', '_base_/default_runtime.py'
]
model = dict(head=dict(num_classes={{_base_.num_classes}}))
