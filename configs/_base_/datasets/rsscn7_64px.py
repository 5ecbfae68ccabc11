# RSSCN7 (Zou et al., GRSL 2015; 2,800 real scenes of 400 px, public
# download: https://github.com/palewithout/RSSCN7) at 64 px for CPU runs:
# the CPU-scale protocol of the first real-data check (README, "Measured
# so far"). Train on random 64 px crops of the 72 px image, test on its
# central 64 px (the same scale).
_base_ = ['./rsscn7_8-2.py']

data_root = 'data/RSSCN7'

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(72, 72)),
    dict(type='RandomCrop', crop_size=64),
    dict(type='RandomFlip', prob=[0.25, 0.25],
         direction=['horizontal', 'vertical']),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(72, 72)),
    dict(type='CenterCrop', crop_size=64),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    batch_size=64,
    dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=128,
    dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = val_dataloader
