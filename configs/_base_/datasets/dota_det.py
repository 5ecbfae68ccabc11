# DOTA-v1.0, horizontal boxes, on 1024 px patches with 200 px overlap:
#   python tools/dataset_converters/dota_split.py data/DOTA/train data/DOTA_split/train
#   python tools/dataset_converters/dota_split.py data/DOTA/val data/DOTA_split/val
_base_ = ['./rs_det.py']
num_classes = 15
# Validation while training: patch-level VOC (area) and COCO mAP on the
# 1024 px patches (keys patch_voc/mAP, patch_coco/bbox_mAP).
val_evaluator = [
    dict(type='VOCMetric', metric='mAP', iou_thrs=[0.5], eval_mode='area',
         prefix='patch_voc'),
    dict(type='CocoMetric', metric='bbox', prefix='patch_coco'),
]
# tools/test.py: the official DOTA Task2 mAP (dota/mAP, the DOTA devkit's
# rules, VOC07 11-point) on the full val images, the patch predictions merged
# back; ann_dir is the labelTxt folder of the unsplit images. The patch-level
# numbers follow as secondary ones.
test_evaluator = [
    dict(type='DOTATask2Metric', ann_dir='data/DOTA/val/labelTxt/'),
    *val_evaluator,
]
