# UC Merced Land Use (21 classes x 100 .tif, 256 px), 5-5 split (train_ratio 0.5).
_base_ = ['./ucm_8-2.py']

train_dataloader = dict(dataset=dict(train_ratio=0.5))
val_dataloader = dict(dataset=dict(train_ratio=0.5))
test_dataloader = val_dataloader
