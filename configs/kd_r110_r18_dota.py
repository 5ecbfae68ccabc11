# KD ResNet-110 -> ResNet-18 on DOTA-v1.0 object crops (the DFT paper's
# baseline). Teacher: python tools/train.py configs/resnet110_dota.py
_base_ = [
    '_base_/distill/cls_r110_r18.py', '_base_/datasets/dota_cls_64px.py',
    '_base_/schedules/cifar_sgd_240e.py', '_base_/default_runtime.py'
]
model = dict(
    student=dict(head=dict(num_classes={{_base_.num_classes}})),
    teacher_cfg='{{fileDirname}}/resnet110_dota.py',
    teacher_ckpt='work_dirs/resnet110_dota/epoch_240.pth',
    distill_losses=dict(
        loss_kd=dict(type='KDLoss', temperature=4.0, loss_weight=1.0)))
