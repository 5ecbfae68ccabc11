# MGD (Yang et al., ECCV 2022): the student's FPN maps, randomly masked
# (ratio 0.65), regenerate the teacher's through a 3x3-ReLU-3x3 block,
# alpha 2e-5 - the official RetinaNet settings.
# Used as {{_base_.mgd_loss}} by the mgd_*.py detection configs.
mgd_loss = dict(
    type='MGDLoss', student_channels=256, teacher_channels=256,
    alpha_mgd=0.00002, lambda_mgd=0.65,
    inputs=['student.neck', 'teacher.neck'])

# The other two families: the official Faster R-CNN (and Mask R-CNN) configs
# use alpha 5e-7 and a mask ratio of 0.45; the anchor-free one (RepPoints)
# keeps RetinaNet's. Used by the mgd_faster-rcnn_*.py / mgd_oriented-rcnn_*.py
# and mgd_fcos_*.py / mgd_rotated-fcos_*.py configs.
mgd_loss_two_stage = dict(mgd_loss, alpha_mgd=0.0000005, lambda_mgd=0.45)
mgd_loss_anchor_free = dict(mgd_loss)
