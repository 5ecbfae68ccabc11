# NWPU VHR-10 as it ships (data/NWPU VHR-10 dataset/), seeded 7:3 split of
# the positive images, resized to fit 800 px.
_base_ = ['./rs_det.py']
dataset_type = 'NWPUVHR10Dataset'
data_root = 'data/NWPU VHR-10 dataset/'
num_classes = 10
img_scale = (800, 800)

train_pipeline = _base_.train_pipeline
train_pipeline[2].scale = img_scale  # the Resize step of rs_det.py
test_pipeline = _base_.test_pipeline
test_pipeline[1].scale = img_scale
train_dataloader = dict(dataset=dict(
    _delete_=True, type=dataset_type, data_root=data_root, split='train',
    train_ratio=0.7, filter_cfg=dict(filter_empty_gt=True),
    pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(
    _delete_=True, type=dataset_type, data_root=data_root, split='test',
    train_ratio=0.7, pipeline=test_pipeline))
test_dataloader = val_dataloader
# Metrics: VOC mAP@0.5 both ways, since NWPU VHR-10 papers use either and
# seldom say which (docs/benchmarks.md, "NWPU VHR-10: AP modes"): the area
# under the interpolated precision-recall curve (VOC2010+, voc_area/mAP) and
# the VOC2007 11-point mean (voc07/mAP); COCO AP as for the other sets
# (coco/bbox_mAP).
val_evaluator = [
    dict(type='VOCMetric', metric='mAP', iou_thrs=[0.5], eval_mode='area',
         prefix='voc_area'),
    dict(type='VOCMetric', metric='mAP', iou_thrs=[0.5],
         eval_mode='11points', prefix='voc07'),
    dict(type='CocoMetric', metric='bbox'),
]
test_evaluator = val_evaluator
