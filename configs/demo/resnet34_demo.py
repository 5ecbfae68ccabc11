# ResNet-34 teacher on the generated demo scenes (make demo, which trains it
# once, seed 0, into work_dirs/demo/teacher_seed0). 16 epochs with
# Mixup/CutMix: trained with plain cross-entropy it memorises the 384
# training images, its outputs on them are one-hot and KD fell below the
# student alone in the demo's tuning (README, "The demo").
_base_ = [
    '../_base_/models/resnet34_mix.py', '../_base_/datasets/demo_scenes.py',
    '../_base_/schedules/cpu_demo.py', '../_base_/default_runtime.py'
]
model = dict(head=dict(num_classes={{_base_.num_classes}}))
# one-hot labels for the batch augmentations
data_preprocessor = dict(num_classes={{_base_.num_classes}})
max_epochs = 16
param_scheduler = dict(T_max=max_epochs)
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
default_hooks = dict(logger=dict(interval=5))
