# KD (Hinton et al. 2015), T = 4, weight 1 (docs/methods.md, "KD").
_base_ = ['./cls_r34_r18.py']
model = dict(distill_losses=dict(
    loss_kd=dict(type='KDLoss', temperature=4.0, loss_weight=1.0)))
