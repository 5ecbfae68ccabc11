# Student alone of the CPU-scale RSSCN7 protocol: eighth-width ResNet-18.
_base_ = [
    '../_base_/models/resnet18_w8.py', '../_base_/datasets/rsscn7_64px.py',
    '../_base_/schedules/cpu_30e.py', '../_base_/default_runtime.py'
]
model = dict(head=dict(num_classes={{_base_.num_classes}}))
