# CWD (Shu et al., ICCV 2021): per channel, the KL of the spatial softmax of the
# teacher's and student's FPN maps, tau 1, weight 10 (mmrazor's detection
# configs), on every FPN level.
# Used as {{_base_.cwd_loss}} by the cwd_*.py detection configs.
cwd_loss = dict(
    type='CWDLoss', tau=1.0, loss_weight=10.0,
    inputs=['student.neck', 'teacher.neck'])
