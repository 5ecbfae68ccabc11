# RSOD scenes (aircraft, oiltank, overpass, playground), 8-2 split (train_ratio 0.8).
_base_ = ['./rs_scene.py']

dataset_type = 'RSOD'
data_root = 'data/RSOD'
num_classes = 4

train_dataloader = dict(
    dataset=dict(type=dataset_type, data_root=data_root, train_ratio=0.8))
val_dataloader = dict(
    dataset=dict(type=dataset_type, data_root=data_root, train_ratio=0.8))
test_dataloader = val_dataloader
# Four classes: top-5 is meaningless.
val_evaluator = dict(type='Accuracy', topk=(1, ))
test_evaluator = val_evaluator
