# DKD ResNet-34 -> ResNet-18 on the generated demo scenes (make demo).
# Teacher: python tools/train.py configs/demo/resnet34_demo.py
#     --work-dir work_dirs/demo/resnet34_demo
_base_ = [
    '../_base_/distill/dkd_r34_r18.py', '../_base_/datasets/demo_scenes.py',
    '../_base_/schedules/cpu_demo.py', '../_base_/default_runtime.py'
]
model = dict(
    student=dict(head=dict(num_classes={{_base_.num_classes}})),
    teacher_cfg='{{fileDirname}}/resnet34_demo.py',
    teacher_ckpt='work_dirs/demo/resnet34_demo/epoch_8.pth',
    # the 20-epoch warm-up is longer than the 8-epoch demo schedule
    distill_losses=dict(loss_dkd=dict(warmup_epochs=2)))
default_hooks = dict(logger=dict(interval=5))
