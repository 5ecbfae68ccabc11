# G-Ghost RegNetX-8.0GF (Han et al., IJCV 2022): 24.59 M parameters with a
# 1000-class head, 22.7 M with 30 classes.
model = dict(
    type='ImageClassifier',
    backbone=dict(type='GGhostRegNet', arch='regnetx_080', out_indices=(3, )),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=1000,
        in_channels=1920,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        topk=(1, 5),
    ))
