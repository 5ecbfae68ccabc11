# NWPU-RESISC45 (45 classes x 700 images, 256 px), 5-5 split (train_ratio 0.5).
_base_ = ['./nwpu_8-2.py']

train_dataloader = dict(dataset=dict(train_ratio=0.5))
val_dataloader = dict(dataset=dict(train_ratio=0.5))
test_dataloader = val_dataloader
