# FGD (Yang et al., CVPR 2022), FCOS R50-FPN -> R18-FPN on DOTA-v1.0:
# the baseline alone (no GD/ISD/TSA) with the settings for its family
# (fgd_loss_anchor_free: _base_/distill/det_fgd.py says where they come from),
# the teacher and data of dynkd_fcos_r50_r18_dota.py.
_base_ = ['./dynkd_fcos_r50_r18_dota.py', '_base_/distill/det_fgd.py']
model = dict(
    gd=None, isd=None, tsa=None,
    distill_losses=dict(loss_fgd={{_base_.fgd_loss_anchor_free}}))
