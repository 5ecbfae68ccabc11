# PKD (Cao et al., NeurIPS 2022): 1 - Pearson correlation of each FPN level's
# student and teacher maps (channels normalised over the batch), weight 10
# as mmrazor's RetinaNet configs, on every FPN level (mmrazor's COCO configs
# leave out the coarsest).
# Used as {{_base_.pkd_loss}} by the pkd_*.py detection configs.
pkd_loss = dict(
    type='PKDLoss', loss_weight=10.0,
    inputs=['student.neck', 'teacher.neck'])

# The other two families: mmrazor's Faster R-CNN R101 -> R50 config weighs the
# loss 6, its FCOS X101 -> R50 config 10 (as RetinaNet). Used by the
# pkd_faster-rcnn_*.py / pkd_oriented-rcnn_*.py and pkd_fcos_*.py /
# pkd_rotated-fcos_*.py configs.
pkd_loss_two_stage = dict(pkd_loss, loss_weight=6.0)
pkd_loss_anchor_free = dict(pkd_loss)
