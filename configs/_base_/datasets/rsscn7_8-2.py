# RSSCN7 (7 classes x 400 images), 8-2 split (train_ratio 0.8).
_base_ = ['./rs_scene.py']

dataset_type = 'RSSCN7'
data_root = 'data/RSSCN7'
num_classes = 7

train_dataloader = dict(
    dataset=dict(type=dataset_type, data_root=data_root, train_ratio=0.8))
val_dataloader = dict(
    dataset=dict(type=dataset_type, data_root=data_root, train_ratio=0.8))
test_dataloader = val_dataloader
