# FitNet (Romero et al., ICLR 2015), ResNet-34 -> ResNet-18, UC Merced 8:2 split.
# Train the teacher first: python tools/train.py configs/resnet34_ucm.py
_base_ = [
    '_base_/distill/fitnet_r34_r18.py', '_base_/datasets/ucm_8-2.py',
    '_base_/schedules/rs_sgd_200e.py', '_base_/default_runtime.py'
]
model = dict(
    student=dict(head=dict(num_classes={{_base_.num_classes}})),
    teacher_cfg='{{fileDirname}}/resnet34_ucm.py',
    teacher_ckpt='work_dirs/resnet34_ucm/epoch_200.pth')
