# SDD (Wei et al., CVPR 2024) on the CPU-scale RSSCN7 protocol: ResNet-34 ->
# eighth-width ResNet-18. Teacher: python tools/train.py
# configs/rsscn7_cpu/resnet34_rsscn7_cpu.py
_base_ = [
    '../_base_/distill/sdd_r34_r18.py', '../_base_/rsscn7_cpu_protocol.py'
]
model = dict(
    student={{_base_.student_w8}},
    teacher_cfg={{_base_.teacher_cfg}},
    teacher_ckpt={{_base_.teacher_ckpt}})
