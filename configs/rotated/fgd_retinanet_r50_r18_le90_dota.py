# FGD (Yang et al., CVPR 2022) on oriented boxes: rotated RetinaNet R50-FPN -> R18-FPN on
# DOTA-v1.0 1024 px patches (le90), the baseline alone (no GD/ISD/TSA): focal and global
# distillation, the focal masks from the oriented boxes (the cells whose centre lies in a
# box). The teacher and data of dynkd_retinanet_r50_r18_le90_dota.py; needs the extra
# "rotated".
_base_ = ['./dynkd_retinanet_r50_r18_le90_dota.py', '../_base_/distill/det_fgd.py']
model = dict(
    gd=None, isd=None, tsa=None,
    distill_losses=dict(loss_fgd={{_base_.fgd_loss}}))
