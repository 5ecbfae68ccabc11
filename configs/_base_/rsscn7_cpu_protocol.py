# The CPU-scale RSSCN7 protocol shared by every distiller in
# configs/rsscn7_cpu/: RSSCN7 at 64 px, the 30-epoch CPU schedule and the
# runtime, the eighth-width ResNet-18 student and the protocol's ResNet-34
# teacher (configs/rsscn7_cpu/resnet34_rsscn7_cpu.py, trained once). A
# distiller lists it after its method's _base_/distill/<method>_r34_r18.py:
#   model = dict(student={{_base_.student_w8}},
#                teacher_cfg={{_base_.teacher_cfg}},
#                teacher_ckpt={{_base_.teacher_ckpt}})
_base_ = [
    './datasets/rsscn7_64px.py', './schedules/cpu_30e.py',
    './default_runtime.py'
]
# ResNet-18 at an eighth of its width (_base_/models/resnet18_w8.py)
student_w8 = dict(
    backbone=dict(stem_channels=8, base_channels=8),
    head=dict(in_channels=64, num_classes={{_base_.num_classes}}))
teacher_cfg = '{{fileDirname}}/../rsscn7_cpu/resnet34_rsscn7_cpu.py'
teacher_ckpt = 'work_dirs/resnet34_rsscn7_cpu/epoch_100.pth'
