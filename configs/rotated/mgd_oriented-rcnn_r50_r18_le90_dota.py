# MGD on oriented boxes, Oriented R-CNN R50-FPN -> R18-FPN on DOTA-v1.0 1024 px patches
# (le90): the baseline alone (no GD/ISD/TSA) with the settings for its family
# (mgd_loss_two_stage: ../_base_/distill/det_mgd.py says where they come from; the
# method's paper: mgd_retinanet_r50_r18_le90_dota.py), the teacher and data of
# dynkd_oriented-rcnn_r50_r18_le90_dota.py. Needs the extra "rotated".
_base_ = ['./dynkd_oriented-rcnn_r50_r18_le90_dota.py', '../_base_/distill/det_mgd.py']
model = dict(
    gd=None, isd=None, tsa=None,
    distill_losses=dict(loss_mgd={{_base_.mgd_loss_two_stage}}))
