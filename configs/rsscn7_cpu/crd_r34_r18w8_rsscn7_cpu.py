# CRD (Tian et al., ICLR 2020) on the CPU-scale RSSCN7 protocol: ResNet-34 ->
# eighth-width ResNet-18. Teacher: python tools/train.py
# configs/rsscn7_cpu/resnet34_rsscn7_cpu.py
_base_ = [
    '../_base_/distill/crd_r34_r18.py', '../_base_/rsscn7_cpu_protocol.py'
]
model = dict(
    student={{_base_.student_w8}},
    teacher_cfg={{_base_.teacher_cfg}},
    teacher_ckpt={{_base_.teacher_ckpt}},
    # the eighth-width student's channels and the training set's size
    distill_losses=dict(loss_crd=dict(student_channels=64, num_samples=2240)))
