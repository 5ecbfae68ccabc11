"""Per-RoI losses of a two-stage detector's ``StandardRoIHead`` (Faster
R-CNN), so that ISD can compare teacher and student per ground-truth
instance on the same sampled RoIs and TSA can weight each positive RoI's
regression loss. The adapter only reads the head's sampled RoIs and
per-RoI losses; TSA, ISD and their reduction are :mod:`.dynamic_kd`'s.
With ISD and TSA off, :func:`roi_head_losses` returns exactly the RoI
head's own ``loss_cls``/``loss_bbox`` (tested).
"""
from typing import Dict, Optional

import torch
import torch.nn.functional as F
from mmdet.models.losses import accuracy
from mmdet.models.utils import unpack_gt_instances
from mmdet.structures.bbox import bbox2roi, get_box_tensor
from torch import Tensor

from ...compat import roi_bbox_forward
from .dynamic_kd import instance_ids, isd_loss, tsa_weights
from .losses.box_geometry import aligned_iou


def _class_deltas(head, bbox_pred: Tensor, labels: Tensor) -> Tensor:
    if head.reg_class_agnostic:
        return bbox_pred.view(bbox_pred.size(0), -1)
    return bbox_pred.view(bbox_pred.size(0), head.num_classes,
                          -1)[torch.arange(len(labels)), labels]


def _sample(roi_head, feats, rpn_results_list, data_samples):
    """The RoI head's own assignment and sampling of the RPN proposals."""
    gts, ignores, _ = unpack_gt_instances(data_samples)
    sampling = []
    for i, rpn in enumerate(rpn_results_list):
        rpn.priors = rpn.pop('bboxes')
        assign = roi_head.bbox_assigner.assign(rpn, gts[i], ignores[i])
        sampling.append(roi_head.bbox_sampler.sample(
            assign, rpn, gts[i], feats=[f[i][None] for f in feats]))
    return gts, sampling


def roi_head_losses(roi_head, feats, rpn_results_list, data_samples,
                    t_roi_head=None, t_feats=None,
                    isd: Optional[dict] = None, tsa: Optional[dict] = None,
                    progress: float = 1.0) -> Dict[str, Tensor]:
    """The RoI head's losses (TSA on each positive's regression) and, with
    ``isd``, ``loss_isd`` on the same sampled RoIs."""
    head = roi_head.bbox_head
    if head.reg_decoded_bbox:
        raise NotImplementedError('ISD/TSA: RoI heads with decoded-box '
                                  'regression are not supported.')
    gts, sampling = _sample(roi_head, feats, rpn_results_list, data_samples)
    rois = bbox2roi([res.priors for res in sampling])
    out = roi_bbox_forward(roi_head, feats, rois)
    cls, reg = out['cls_score'], out['bbox_pred']
    labels, label_w, bbox_t, bbox_w = head.get_targets(
        sampling, roi_head.train_cfg, concat=True)
    lc = head.loss_cls(cls, labels, label_w, reduction_override='none')
    losses = dict(loss_cls=lc.sum() / max(float((label_w > 0).sum()), 1.0),
                  acc=accuracy(cls, labels))
    pos = (labels >= 0) & (labels < head.num_classes)
    if not pos.any():
        losses['loss_bbox'] = reg.sum() * 0
        if isd is not None:
            losses['loss_isd'] = reg.sum() * 0
        return losses
    inst, num_inst = instance_ids(
        [r.pos_assigned_gt_inds for r in sampling], [len(g) for g in gts])
    all_gt = torch.cat([get_box_tensor(g.bboxes) for g in gts])
    d_s = _class_deltas(head, reg[pos], labels[pos])
    lr = head.loss_bbox(d_s, bbox_t[pos], bbox_w[pos],
                        reduction_override='none').sum(-1)
    reg_w = torch.ones_like(lr)
    if tsa is not None:
        boxes = get_box_tensor(head.bbox_coder.decode(rois[pos, 1:],
                                                      d_s.detach()))
        ious = aligned_iou(boxes, all_gt[inst])
        reg_w = tsa_weights(all_gt, inst, ious, progress, **tsa)
    losses['loss_bbox'] = (lr * reg_w).sum() / bbox_t.size(0)
    if isd is not None:
        losses['loss_isd'] = _isd_loss(
            head, t_roi_head, t_feats, rois, pos, cls, d_s, lc[pos] + lr,
            (labels, label_w, bbox_t, bbox_w), (inst, num_inst), isd)
    return losses


def _isd_loss(head, t_roi_head, t_feats, rois: Tensor, pos: Tensor,
              cls: Tensor, d_s: Tensor, l_s: Tensor, targets: tuple,
              instances: tuple, isd: dict) -> Tensor:
    """``loss_isd`` on the sampled RoIs, which the teacher's RoI head
    scores too: per instance, the ISD weight (from the student's and the
    teacher's per-positive losses ``l_s``, ``l_t``) times the mean over its
    positive RoIs of the KL of the class scores plus the L1 distance of
    the class deltas."""
    labels, label_w, bbox_t, bbox_w = targets
    if t_roi_head is None:
        raise ValueError('ISD needs the teacher RoI head.')
    with torch.no_grad():
        t_out = roi_bbox_forward(t_roi_head, t_feats, rois)
    cls_t, reg_t = t_out['cls_score'], t_out['bbox_pred']
    if cls_t.shape != cls.shape:
        raise ValueError('Teacher and student RoI heads predict '
                         f'{cls_t.shape[1]} and {cls.shape[1]} classes.')
    d_t = _class_deltas(head, reg_t[pos], labels[pos])
    l_t = head.loss_cls(cls_t[pos], labels[pos], label_w[pos],
                        reduction_override='none') + head.loss_bbox(
                            d_t, bbox_t[pos], bbox_w[pos],
                            reduction_override='none').sum(-1)
    log_ps, log_pt = F.log_softmax(cls[pos], 1), F.log_softmax(cls_t[pos], 1)
    return isd_loss(l_s, l_t, (log_pt.exp() * (log_pt - log_ps)).sum(1),
                    (d_s - d_t).abs().sum(-1), *instances, **isd)
