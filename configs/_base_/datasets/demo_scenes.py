# The generated aerial-scene demo set (tools/misc/make_demo_dataset.py):
# 6 classes, 64 px, 8:2 split. Small enough to train on 2 CPU cores.
_base_ = ['./rs_scene.py']

data_root = 'data/demo_scenes'
num_classes = 6

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomFlip', prob=[0.25, 0.25],
         direction=['horizontal', 'vertical']),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='PackInputs'),
]

train_dataloader = dict(
    batch_size=32,
    dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=64,
    dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = val_dataloader
