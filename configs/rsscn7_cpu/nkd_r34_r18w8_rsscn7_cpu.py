# NKD (Yang et al., ICCV 2023) on the CPU-scale RSSCN7 protocol: ResNet-34 ->
# eighth-width ResNet-18. Teacher: python tools/train.py
# configs/rsscn7_cpu/resnet34_rsscn7_cpu.py
_base_ = [
    '../_base_/distill/nkd_r34_r18.py', '../_base_/datasets/rsscn7_64px.py',
    '../_base_/schedules/cpu_30e.py', '../_base_/default_runtime.py'
]
model = dict(
    student=dict(
        backbone=dict(stem_channels=8, base_channels=8),
        head=dict(in_channels=64, num_classes={{_base_.num_classes}})),
    teacher_cfg='{{fileDirname}}/resnet34_rsscn7_cpu.py',
    teacher_ckpt='work_dirs/resnet34_rsscn7_cpu/epoch_30.pth')
