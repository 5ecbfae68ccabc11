# DOTA-v1.0 object crops (tools/dataset_converters/dota_to_cls.py, 64 px),
# 15 classes, 8:2 stratified split of the crops. Train and test both see the
# crop resized to 64 px (whatever --size the converter used); training adds
# CIFAR-style 4 px padding + random 64 px crops, which keep that scale.
_base_ = ['./rs_scene.py']

dataset_type = 'DOTACls'
data_root = 'data/DOTA_cls'
num_classes = 15

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(64, 64)),
    dict(type='RandomCrop', crop_size=64, padding=4),
    dict(type='RandomFlip', prob=[0.25, 0.25],
         direction=['horizontal', 'vertical']),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(64, 64)),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    batch_size=64,
    dataset=dict(type=dataset_type, data_root=data_root,
                 pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=128,
    dataset=dict(type=dataset_type, data_root=data_root,
                 pipeline=test_pipeline))
test_dataloader = val_dataloader
