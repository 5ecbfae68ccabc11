# Teacher of the CPU-scale RSSCN7 protocol: ResNet-34, 64 px, 30 epochs.
_base_ = [
    '../_base_/models/resnet34.py', '../_base_/datasets/rsscn7_64px.py',
    '../_base_/schedules/cpu_30e.py', '../_base_/default_runtime.py'
]
model = dict(head=dict(num_classes={{_base_.num_classes}}))
