# Rotated FCOS R50-FPN (oriented boxes, le90 angles, anchor-free) on DOTA-v1.0 1024 px
# patches: the teacher. Needs mmrskd's optional extra "rotated" (mmrotate):
# pip install -e ".[rotated]" in the repository, or make env. docs/rotated.md says what runs
# on a CPU.
#
# mmrotate's own recipe in its hbox variant (rotated-fcos-hbox-le90_r50_fpn_1x_dota.py: FCOS
# points with centre sampling and centre-ness, focal loss, the box loss an IoU loss on the
# four distances (the box in its own frame, angle aside) plus an L1 loss on the angle, rotated
# NMS, 12 epochs, lr 0.0025 for batch 2) with what every rotated config sets over it
# (configs/_base_/rotated/mmrskd_dota.py): the backbone from scratch, mmrskd's runtime in
# mmrotate's registry scope, CPUOpsCheckHook, the patches of
# tools/dataset_converters/dota_split.py read by RotatedDOTADataset.
# Why this variant, of mmrotate's rotated FCOS recipes for DOTA: the plain one
# (rotated-fcos-le90, 71.28 mAP in mmrotate's table) computes its rotated-IoU box loss with
# diff_iou_rotated_2d, CUDA only (CPUOpsCheckHook stops it on a CPU); the KLD one (71.89)
# runs on a CPU, but its box loss was NaN in the first iteration from a scratch backbone
# (NaNGuardHook stops the run there); the CSL-gaussian one (71.76) and this one (70.70) run
# on a CPU with finite losses, and this one regresses the angle with one channel, as rotated
# RetinaNet does, where CSL classifies it into 180 bins. At test: nms_rotated.
#
# Evaluation as every rotated config (configs/_base_/rotated/mmrskd_dota.py): DOTA Task1 on
# the full val images (dota/mAP), mmrotate's DOTAMetric on the patches (patch_dota/mAP).
_base_ = [
    'mmrotate::rotated_fcos/rotated-fcos-hbox-le90_r50_fpn_1x_dota.py',
    '../_base_/rotated/mmrskd_dota.py'
]
globals().update(_base_.pop('mmrskd_rotated'))  # see that file
