# DKD (Zhao et al., CVPR 2022), CIFAR-style preset: alpha 1, beta 8, T 4,
# linear warm-up over 20 epochs (docs/methods.md, "DKD").
_base_ = ['./cls_r34_r18.py']
model = dict(distill_losses=dict(
    loss_dkd=dict(type='DKDLoss', alpha=1.0, beta=8.0, temperature=4.0,
                  warmup_epochs=20, loss_weight=1.0)))
