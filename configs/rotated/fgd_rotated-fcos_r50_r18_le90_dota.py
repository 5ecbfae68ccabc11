# FGD on oriented boxes, rotated FCOS R50-FPN -> R18-FPN on DOTA-v1.0 1024 px patches
# (le90): the baseline alone (no GD/ISD/TSA) with the settings for its family
# (fgd_loss_anchor_free: ../_base_/distill/det_fgd.py says where they come from; the
# method's paper: fgd_retinanet_r50_r18_le90_dota.py), the teacher and data of
# dynkd_rotated-fcos_r50_r18_le90_dota.py. Needs the extra "rotated".
_base_ = ['./dynkd_rotated-fcos_r50_r18_le90_dota.py', '../_base_/distill/det_fgd.py']
model = dict(
    gd=None, isd=None, tsa=None,
    distill_losses=dict(loss_fgd={{_base_.fgd_loss_anchor_free}}))
