# CTKD (Li et al., AAAI 2023): KD at a learnable temperature in (1, 21) trained
# through gradient reversal, its coefficient raised 0 -> 1 along a cosine
# over 10 epochs (docs/methods.md, "CTKD"); base='dkd' wraps DKD instead.
_base_ = ['./cls_r34_r18.py']
model = dict(distill_losses=dict(
    loss_ctkd=dict(type='CTKDLoss', base='kd', curriculum_epochs=10,
                   loss_weight=1.0)))
