# NWPU-RESISC45 (45 classes x 700 images, 256 px), 8-2 split (train_ratio 0.8).
_base_ = ['./rs_scene.py']

dataset_type = 'NWPURESISC45'
data_root = 'data/NWPU-RESISC45'
num_classes = 45

train_dataloader = dict(
    dataset=dict(type=dataset_type, data_root=data_root, train_ratio=0.8))
val_dataloader = dict(
    dataset=dict(type=dataset_type, data_root=data_root, train_ratio=0.8))
test_dataloader = val_dataloader
