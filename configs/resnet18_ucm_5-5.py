# ResNet-18 on ucm 5-5 split: the student alone (vanilla baseline).
_base_ = [
    '_base_/models/resnet18.py', '_base_/datasets/ucm_5-5.py',
    '_base_/schedules/rs_sgd_200e.py', '_base_/default_runtime.py'
]
model = dict(head=dict(num_classes={{_base_.num_classes}}))
