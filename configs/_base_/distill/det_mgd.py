# MGD (Yang et al., ECCV 2022): the student's FPN maps, randomly masked
# (ratio 0.65), regenerate the teacher's through a 3x3-ReLU-3x3 block,
# alpha 2e-5 - the official RetinaNet settings.
# Used as {{_base_.mgd_loss}} by the mgd_*.py detection configs.
mgd_loss = dict(
    type='MGDLoss', student_channels=256, teacher_channels=256,
    alpha_mgd=0.00002, lambda_mgd=0.65,
    inputs=['student.neck', 'teacher.neck'])
