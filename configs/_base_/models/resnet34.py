# ResNet-34 scene classifier (torchvision-style ResNet, 224 px input).
# num_classes is set by the top-level config from its dataset file.
model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='ResNet', depth=34, num_stages=4, out_indices=(3, ),
        style='pytorch'),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=1000,
        in_channels=512,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        topk=(1, 5),
    ))
