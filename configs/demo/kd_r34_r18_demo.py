# KD ResNet-34 -> ResNet-18 on the generated demo scenes (make demo).
# Teacher: python tools/train.py configs/demo/resnet34_demo.py
#     --work-dir work_dirs/demo/resnet34_demo
_base_ = [
    '../_base_/distill/kd_r34_r18.py', '../_base_/datasets/demo_scenes.py',
    '../_base_/schedules/cpu_demo.py', '../_base_/default_runtime.py'
]
model = dict(
    student=dict(head=dict(num_classes={{_base_.num_classes}})),
    teacher_cfg='{{fileDirname}}/resnet34_demo.py',
    teacher_ckpt='work_dirs/demo/resnet34_demo/epoch_8.pth')
default_hooks = dict(logger=dict(interval=5))
