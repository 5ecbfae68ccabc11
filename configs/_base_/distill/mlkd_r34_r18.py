# Multi-level logit distillation (Jin et al., CVPR 2023): instance, batch and
# class alignment at temperatures 2-6 with the official confidence factor
# (docs/methods.md, "MLKD"). Single view; the two-view strong-augmentation
# recipe: configs/rsscn7_cpu/mlkd-strong_r34_r18w8_rsscn7_cpu.py.
_base_ = ['./cls_r34_r18.py']
model = dict(distill_losses=dict(
    loss_mlkd=dict(type='MLKDLoss', temperatures=(2.0, 3.0, 4.0, 5.0, 6.0),
                   confidence_percentile=50.0, loss_weight=1.0)))
