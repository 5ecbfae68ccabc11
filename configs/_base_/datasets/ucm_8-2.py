# UC Merced Land Use (21 classes x 100 .tif, 256 px), 8-2 split (train_ratio 0.8).
_base_ = ['./rs_scene.py']

dataset_type = 'UCMerced'
data_root = 'data/UCMerced_LandUse/Images'
num_classes = 21

train_dataloader = dict(
    dataset=dict(type=dataset_type, data_root=data_root, train_ratio=0.8))
val_dataloader = dict(
    dataset=dict(type=dataset_type, data_root=data_root, train_ratio=0.8))
test_dataloader = val_dataloader
