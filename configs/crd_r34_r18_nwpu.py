# CRD (Tian et al., ICLR 2020), ResNet-34 -> ResNet-18, NWPU-RESISC45 8:2 split.
# Train the teacher first: python tools/train.py configs/resnet34_nwpu.py
_base_ = [
    '_base_/distill/crd_r34_r18.py', '_base_/datasets/nwpu_8-2.py',
    '_base_/schedules/rs_sgd_200e.py', '_base_/default_runtime.py'
]
model = dict(
    student=dict(head=dict(num_classes={{_base_.num_classes}})),
    teacher_cfg='{{fileDirname}}/resnet34_nwpu.py',
    teacher_ckpt='work_dirs/resnet34_nwpu/epoch_200.pth',
    # the training set's size (8:2 split)
    distill_losses=dict(loss_crd=dict(num_samples=25200)))
