# DKD on the CPU-scale RSSCN7 protocol: ResNet-34 -> eighth-width ResNet-18.
# Teacher: python tools/train.py configs/rsscn7_cpu/resnet34_rsscn7_cpu.py
_base_ = [
    '../_base_/distill/dkd_r34_r18.py', '../_base_/rsscn7_cpu_protocol.py'
]
model = dict(
    student={{_base_.student_w8}},
    teacher_cfg={{_base_.teacher_cfg}},
    teacher_ckpt={{_base_.teacher_ckpt}},
    # warm-up scaled to the 30-epoch schedule (20 of 240 in the paper)
    distill_losses=dict(loss_dkd=dict(warmup_epochs=3)))
