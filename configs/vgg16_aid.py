# VGG-16 (BN) on AID 8:2: the DKD teacher (He et al., arXiv 2505.19111).
_base_ = [
    '_base_/models/vgg16.py', '_base_/datasets/aid_8-2.py',
    '_base_/schedules/rs_sgd_200e.py', '_base_/default_runtime.py'
]
model = dict(backbone=dict(num_classes={{_base_.num_classes}}))
