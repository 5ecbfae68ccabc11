# VGG-16 (with BatchNorm, so that it trains with the SGD 0.1 schedule).
# mmpretrain's VGG holds its classifier: num_classes is a backbone field.
model = dict(
    type='ImageClassifier',
    backbone=dict(type='VGG', depth=16, norm_cfg=dict(type='BN'),
                  num_classes=1000),
    neck=None,
    head=dict(
        type='ClsHead',
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        topk=(1, 5),
    ))
