# CWD (Shu et al., ICCV 2021), FCOS R50-FPN -> R18-FPN on DOTA-v1.0:
# the baseline alone (no GD/ISD/TSA) with the settings for its family
# (cwd_loss_anchor_free: _base_/distill/det_cwd.py says where they come from),
# the teacher and data of dynkd_fcos_r50_r18_dota.py.
_base_ = ['./dynkd_fcos_r50_r18_dota.py', '_base_/distill/det_cwd.py']
model = dict(
    gd=None, isd=None, tsa=None,
    distill_losses=dict(loss_cwd={{_base_.cwd_loss_anchor_free}}))
