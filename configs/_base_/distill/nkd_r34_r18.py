# NKD (Yang et al., ICCV 2023): target term plus the normalised non-target
# distribution, tau 1, gamma 1.5 - the official ImageNet ResNet setting
# (docs/methods.md, "NKD").
_base_ = ['./cls_r34_r18.py']
model = dict(distill_losses=dict(
    loss_nkd=dict(type='NKDLoss', temperature=1.0, gamma=1.5,
                  loss_weight=1.0)))
