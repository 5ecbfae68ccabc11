# ResNet-34 trained with Mixup (alpha 0.2) and CutMix (alpha 1.0) on soft
# cross-entropy: the teachers of the CPU protocols (the RSSCN7 protocol and
# the demo). Trained on plain cross-entropy a teacher memorises a small
# training set and its outputs on it become one-hot, which leaves a student
# little to learn from. A config that inherits it sets the number of classes
# in the head and in the data preprocessor (the batch augmentations mix
# one-hot labels):
#     model = dict(head=dict(num_classes=N))
#     data_preprocessor = dict(num_classes=N)
_base_ = ['./resnet34.py']
model = dict(
    head=dict(loss=dict(type='CrossEntropyLoss', use_soft=True)),
    train_cfg=dict(augments=[
        dict(type='Mixup', alpha=0.2),
        dict(type='CutMix', alpha=1.0)
    ]))
