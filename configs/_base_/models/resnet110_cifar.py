# ResNet-110 (CIFAR-style 6n+2, n = 18, widths 16/32/64): the DFT teacher.
model = dict(
    type='ImageClassifier',
    backbone=dict(type='ResNetCIFAR', depth=110, out_indices=(2, )),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=1000,
        in_channels=64,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        topk=(1, 5),
    ))
