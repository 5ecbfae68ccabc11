# PKD (Cao et al., NeurIPS 2022): 1 - Pearson correlation of each FPN level's
# student and teacher maps (channels normalised over the batch), weight 10
# as mmrazor's RetinaNet configs, on every FPN level (mmrazor's COCO configs
# leave out the coarsest).
# Used as {{_base_.pkd_loss}} by the pkd_*.py detection configs.
pkd_loss = dict(
    type='PKDLoss', loss_weight=10.0,
    inputs=['student.neck', 'teacher.neck'])
