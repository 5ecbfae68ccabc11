# CWD (Shu et al., ICCV 2021): per channel, the KL of the spatial softmax of the
# teacher's and student's FPN maps, tau 1, weight 10 (mmrazor's detection
# configs), on every FPN level.
# Used as {{_base_.cwd_loss}} by the cwd_*.py detection configs.
cwd_loss = dict(
    type='CWDLoss', tau=1.0, loss_weight=10.0,
    inputs=['student.neck', 'teacher.neck'])

# The other two families: mmrazor's Faster R-CNN R101 -> R50 config has the
# same tau 1, weight 10; there is no official anchor-free CWD detector config
# (its third, GFL, is a dense one-stage head like RetinaNet), so the anchor-free
# configs keep these settings. Used by the cwd_faster-rcnn_*.py /
# cwd_oriented-rcnn_*.py and cwd_fcos_*.py / cwd_rotated-fcos_*.py configs.
cwd_loss_two_stage = dict(cwd_loss)
cwd_loss_anchor_free = dict(cwd_loss)
