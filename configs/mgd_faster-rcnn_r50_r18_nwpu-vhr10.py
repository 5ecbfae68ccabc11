# MGD (Yang et al., ECCV 2022), Faster R-CNN R50-FPN -> R18-FPN on NWPU VHR-10:
# the baseline alone (no GD/ISD/TSA) with the settings for its family
# (mgd_loss_two_stage: _base_/distill/det_mgd.py says where they come from),
# the teacher and data of dynkd_faster-rcnn_r50_r18_nwpu-vhr10.py.
_base_ = ['./dynkd_faster-rcnn_r50_r18_nwpu-vhr10.py', '_base_/distill/det_mgd.py']
model = dict(
    gd=None, isd=None, tsa=None,
    distill_losses=dict(loss_mgd={{_base_.mgd_loss_two_stage}}))
