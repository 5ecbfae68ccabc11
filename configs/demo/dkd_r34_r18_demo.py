# DKD ResNet-34 -> eighth-width ResNet-18 (the student of resnet18_demo.py)
# on the generated demo scenes. Teacher: make demo, or
#   python tools/train.py configs/demo/resnet34_demo.py \
#       --work-dir work_dirs/demo/teacher_seed0
_base_ = [
    '../_base_/distill/dkd_r34_r18.py', '../_base_/datasets/demo_scenes.py',
    '../_base_/schedules/cpu_demo.py', '../_base_/default_runtime.py'
]
model = dict(
    student=dict(backbone=dict(stem_channels=8, base_channels=8),
                 head=dict(in_channels=64,
                           num_classes={{_base_.num_classes}})),
    teacher_cfg='{{fileDirname}}/resnet34_demo.py',
    teacher_ckpt='work_dirs/demo/teacher_seed0/epoch_16.pth',
    # the 20-epoch warm-up is longer than the 8-epoch demo schedule
    distill_losses=dict(loss_dkd=dict(warmup_epochs=2)))
default_hooks = dict(logger=dict(interval=5))
