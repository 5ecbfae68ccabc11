# Rotated RetinaNet R50-FPN (oriented boxes, le90 angles) on DOTA-v1.0 1024 px patches: the
# teacher. Needs mmrskd's optional extra "rotated" (mmrotate): pip install -e ".[rotated]"
# in the repository, or make env. docs/rotated.md says what runs on a CPU.
#
# mmrotate's own recipe (rotated-retinanet-rbox-le90_r50_fpn_1x_dota.py: anchors, box coder,
# focal loss, L1 box loss, rotated-IoU assigner, rotated NMS, 12 epochs, lr 0.0025 for
# batch 2) with what every rotated config sets over it
# (configs/_base_/rotated/mmrskd_dota.py): the backbone from scratch, mmrskd's runtime in
# mmrotate's registry scope, CPUOpsCheckHook, the patches of
# tools/dataset_converters/dota_split.py read by RotatedDOTADataset.
# Every op it trains and tests with has a CPU kernel in mmcv 2.1 (box_iou_rotated in the
# assigner, nms_rotated); a rotated-IoU box loss (RotatedIoULoss, diff_iou_rotated_2d) would
# need a GPU: CPUOpsCheckHook then stops a CPU run before its first iteration.
#
# Evaluation: validation while training with mmrotate's DOTAMetric on the val patches
# (key patch_dota/mAP: VOC07 11-point AP of the oriented boxes at IoU 0.5, difficult objects
# ignored). tools/test.py: the official DOTA Task1 mAP (dota/mAP, the DOTA devkit's rules,
# polygon IoU, VOC07 11-point) on the full val images, DOTATask1Metric: the patch
# predictions merged back (shifted by the patch offsets, class-wise rotated NMS of the
# overlaps) and scored against the unsplit labelTxt files in ann_dir, so an object cut by a
# patch border counts once, whole; task1_dir=DIR writes the submission files
# Task1_<class>.txt. The patch-level number follows as a secondary one. Registered in mmdet's
# registry, hence the mmdet. prefix in this mmrotate-scoped config.
_base_ = [
    'mmrotate::rotated_retinanet/rotated-retinanet-rbox-le90_r50_fpn_1x_dota.py',
    '../_base_/rotated/mmrskd_dota.py'
]
globals().update(_base_.pop('mmrskd_rotated'))  # see that file
