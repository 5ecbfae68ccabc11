# AID (30 classes, 10,000 images, 600 px), 8-2 split (train_ratio 0.8).
_base_ = ['./rs_scene.py']

dataset_type = 'AID'
data_root = 'data/AID'
num_classes = 30

train_dataloader = dict(
    dataset=dict(type=dataset_type, data_root=data_root, train_ratio=0.8))
val_dataloader = dict(
    dataset=dict(type=dataset_type, data_root=data_root, train_ratio=0.8))
test_dataloader = val_dataloader
