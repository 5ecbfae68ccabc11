# PKD (Cao et al., NeurIPS 2022) on oriented boxes: rotated RetinaNet R50-FPN -> R18-FPN on
# DOTA-v1.0 1024 px patches (le90), the baseline alone (no GD/ISD/TSA): Pearson correlation of
# the FPN maps (no boxes needed). The teacher and data of
# dynkd_retinanet_r50_r18_le90_dota.py; needs the extra "rotated".
_base_ = ['./dynkd_retinanet_r50_r18_le90_dota.py', '../_base_/distill/det_pkd.py']
model = dict(
    gd=None, isd=None, tsa=None,
    distill_losses=dict(loss_pkd={{_base_.pkd_loss}}))
