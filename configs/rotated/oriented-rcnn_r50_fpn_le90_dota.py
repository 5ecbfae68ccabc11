# Oriented R-CNN R50-FPN (oriented boxes, le90 angles, two-stage) on DOTA-v1.0 1024 px
# patches: the teacher. Needs mmrskd's optional extra "rotated" (mmrotate):
# pip install -e ".[rotated]" in the repository, or make env. docs/rotated.md says what runs
# on a CPU.
#
# mmrotate's own recipe (oriented-rcnn-le90_r50_fpn_1x_dota.py: the oriented RPN with
# midpoint-offset proposals, rotated RoIAlign, a 2-fc box head regressing (x, y, w, h, angle),
# smooth L1 box losses, 12 epochs, lr 0.005 for batch 2) with what every rotated config sets
# over it (configs/_base_/rotated/mmrskd_dota.py): the backbone from scratch, mmrskd's
# runtime in mmrotate's registry scope, CPUOpsCheckHook, the patches of
# tools/dataset_converters/dota_split.py read by RotatedDOTADataset.
# Every op it trains and tests with has a CPU kernel in mmcv 2.1: nms on the RPN's
# horizontal proposal boxes, roi_align_rotated (RoIAlignRotated), box_iou_rotated in the
# R-CNN assigner (the RPN's compares horizontal boxes), nms_rotated. ReDet's rotation-
# invariant RiRoIAlignRotated (riroi_align_rotated) would need a GPU: CPUOpsCheckHook then
# stops a CPU run before its first iteration.
#
# Evaluation as every rotated config (configs/_base_/rotated/mmrskd_dota.py): DOTA Task1 on
# the full val images (dota/mAP), mmrotate's DOTAMetric on the patches (patch_dota/mAP).
_base_ = [
    'mmrotate::oriented_rcnn/oriented-rcnn-le90_r50_fpn_1x_dota.py',
    '../_base_/rotated/mmrskd_dota.py'
]
globals().update(_base_.pop('mmrskd_rotated'))  # see that file
