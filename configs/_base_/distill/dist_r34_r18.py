# DIST (Huang et al., NeurIPS 2022): 1 - Pearson correlation of the softened
# predictions between (inter) and within (intra) classes, beta = gamma = 1,
# tau = 1, times the official kd_loss_weight 2 of its ImageNet recipe
# (docs/methods.md, "DIST").
_base_ = ['./cls_r34_r18.py']
model = dict(distill_losses=dict(
    loss_dist=dict(type='DISTLoss', beta=1.0, gamma=1.0, temperature=1.0,
                   loss_weight=2.0)))
