# MGD (Yang et al., ECCV 2022) on oriented boxes: rotated RetinaNet R50-FPN -> R18-FPN on
# DOTA-v1.0 1024 px patches (le90), the baseline alone (no GD/ISD/TSA): masked generative
# distillation of the FPN maps (random masks, no boxes needed). The teacher and data of
# dynkd_retinanet_r50_r18_le90_dota.py; needs the extra "rotated".
_base_ = ['./dynkd_retinanet_r50_r18_le90_dota.py', '../_base_/distill/det_mgd.py']
model = dict(
    gd=None, isd=None, tsa=None,
    distill_losses=dict(loss_mgd={{_base_.mgd_loss}}))
