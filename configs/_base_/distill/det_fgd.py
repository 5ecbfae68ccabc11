# FGD (Yang et al., CVPR 2022): focal (foreground/background masks from the
# boxes, the teacher's spatial and channel attention) and global (context
# block) distillation of every FPN level, the official RetinaNet settings.
# Used as {{_base_.fgd_loss}} by the fgd_*.py detection configs.
fgd_loss = dict(
    type='FGDLoss', student_channels=256, teacher_channels=256, temp=0.5,
    alpha_fgd=0.001, beta_fgd=0.0005, gamma_fgd=0.0005, lambda_fgd=0.000005,
    inputs=['student.neck', 'teacher.neck', 'gt_bboxes',
            'batch_input_shape'])
