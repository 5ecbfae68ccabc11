# PKD (Cao et al., NeurIPS 2022), RetinaNet R50-FPN -> R18-FPN on Airbus aircraft (256 px patches): the baseline
# alone (no GD/ISD/TSA), the teacher and data of dynkd_retinanet_r50_r18_airbus.py.
_base_ = [
    './dynkd_retinanet_r50_r18_airbus.py', '../_base_/distill/det_pkd.py'
]
model = dict(
    gd=None, isd=None, tsa=None,
    distill_losses=dict(loss_pkd={{_base_.pkd_loss}}))
