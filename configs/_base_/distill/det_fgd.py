# FGD (Yang et al., CVPR 2022): focal (foreground/background masks from the
# boxes, the teacher's spatial and channel attention) and global (context
# block) distillation of every FPN level, the official RetinaNet settings.
# Used as {{_base_.fgd_loss}} by the fgd_*.py detection configs.
fgd_loss = dict(
    type='FGDLoss', student_channels=256, teacher_channels=256, temp=0.5,
    alpha_fgd=0.001, beta_fgd=0.0005, gamma_fgd=0.0005, lambda_fgd=0.000005,
    inputs=['student.neck', 'teacher.neck', 'gt_bboxes',
            'batch_input_shape'])

# The official settings of the other two families (FGD's Faster R-CNN R101 ->
# R50 and FCOS configs), used by the fgd_faster-rcnn_*.py / fgd_oriented-rcnn_*.py
# and fgd_fcos_*.py / fgd_rotated-fcos_*.py configs.
fgd_loss_two_stage = dict(
    fgd_loss, alpha_fgd=0.00005, beta_fgd=0.000025, gamma_fgd=0.00005,
    lambda_fgd=0.0000005)
fgd_loss_anchor_free = dict(
    fgd_loss, temp=0.8, alpha_fgd=0.0016, beta_fgd=0.0008, gamma_fgd=0.0008,
    lambda_fgd=0.000008)
