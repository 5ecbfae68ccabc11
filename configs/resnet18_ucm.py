# ResNet-18 on ucm 8-2 split: the student alone (vanilla baseline).
_base_ = [
    '_base_/models/resnet18.py', '_base_/datasets/ucm_8-2.py',
    '_base_/schedules/rs_sgd_200e.py', '_base_/default_runtime.py'
]
model = dict(head=dict(num_classes={{_base_.num_classes}}))
