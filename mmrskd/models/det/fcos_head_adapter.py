"""Per-point losses of an mmdet ``FCOSHead`` (anchor-free), so that ISD can
compare teacher and student per ground-truth instance and TSA can weight
each positive's regression loss.

FCOS's own targets do not say which ground truth a positive point belongs
to; the decoded target box of a positive *is* that ground-truth box, so it
is matched back exactly. With ISD and TSA off, :func:`fcos_head_losses`
returns exactly the head's own losses (tested).
"""
from typing import Dict, List, Optional

import torch
from mmdet.structures.bbox import bbox_overlaps
from torch import Tensor

from .anchor_head_adapter import _binary_kl
from .dynamic_kd import group_mean, isd_weights, tsa_weights


def _flat(maps: List[Tensor], channels: int) -> Tensor:
    """[(N, K, H, W)] -> (sum_l N*H*W, K) in FCOS's level-major order."""
    return torch.cat([m.permute(0, 2, 3, 1).reshape(-1, channels)
                      for m in maps])


def fcos_head_losses(head, outs_s, data_samples, outs_t=None,
                     isd: Optional[dict] = None, tsa: Optional[dict] = None,
                     progress: float = 1.0) -> Dict[str, Tensor]:
    """FCOS losses of the student (TSA on the box loss of each positive) and,
    with ``isd``, the instance-selected imitation loss ``loss_isd``."""
    cls_s, reg_s, ctr_s = outs_s
    gts = [s.gt_instances for s in data_samples]
    n_img = cls_s[0].size(0)
    sizes = [c.shape[-2:] for c in cls_s]
    points = head.prior_generator.grid_priors(
        sizes, dtype=reg_s[0].dtype, device=reg_s[0].device)
    labels, bbox_targets = head.get_targets(points, gts)
    labels, bbox_targets = torch.cat(labels), torch.cat(bbox_targets)
    flat_points = torch.cat([p.repeat(n_img, 1) for p in points])
    img_ids = torch.cat([torch.arange(n_img, device=labels.device)
                         .repeat_interleave(len(p)) for p in points])
    strides = torch.cat([labels.new_full((n_img * len(p), ), s[0]
                                         if isinstance(s, tuple) else s)
                         for p, s in zip(points, head.strides)]).float()
    c = head.cls_out_channels
    ps, rs, cs = _flat(cls_s, c), _flat(reg_s, 4), _flat(ctr_s, 1)[:, 0]
    pos = ((labels >= 0) & (labels < head.num_classes)).nonzero()[:, 0]
    num_pos = max(float(len(pos)), 1.0)
    losses = dict(loss_cls=head.loss_cls(ps, labels, avg_factor=num_pos))
    if len(pos) == 0:
        zero = rs.sum() * 0 + cs.sum() * 0
        losses.update(loss_bbox=zero, loss_centerness=zero)
        if isd is not None:
            losses['loss_isd'] = zero
        return losses

    scale = strides[pos, None] if head.norm_on_bbox else 1.0
    t_targets = bbox_targets[pos]
    ctr_targets = head.centerness_target(t_targets)
    ctr_denorm = max(float(ctr_targets.sum()), 1e-6)
    decode = head.bbox_coder.decode
    gt_boxes = decode(flat_points[pos], t_targets * scale)
    pred_boxes = decode(flat_points[pos], rs[pos] * scale)

    # the ground-truth instance of every positive (exact box match)
    offsets = [0]
    for g in gts:
        offsets.append(offsets[-1] + len(g))
    all_gt = torch.cat([g.bboxes for g in gts])
    inst = torch.empty_like(pos)
    for i in range(n_img):
        sel = img_ids[pos] == i
        if sel.any():
            d = (gt_boxes[sel, None] - gts[i].bboxes[None]).abs().sum(-1)
            inst[sel] = d.argmin(1) + offsets[i]
    num_inst = offsets[-1]

    reg_w = torch.ones_like(ctr_targets)
    if tsa is not None:
        ious = bbox_overlaps(pred_boxes.detach(), gt_boxes, is_aligned=True)
        inst_w = tsa_weights(all_gt, all_gt.new_zeros(num_inst), progress,
                             **tsa)
        eta = tsa.get('eta', 1.0)
        reg_w = 1 + (inst_w[inst] - 1) * (1 - ious.clamp(0, 1))**eta
    lb = head.loss_bbox(pred_boxes, gt_boxes, reduction_override='none')
    losses['loss_bbox'] = (lb * ctr_targets * reg_w).sum() / ctr_denorm
    lc_pos = head.loss_centerness(cs[pos], ctr_targets,
                                  reduction_override='none')
    losses['loss_centerness'] = lc_pos.sum() / num_pos

    if isd is not None:
        if outs_t is None:
            raise ValueError('ISD needs the teacher head outputs.')
        cls_t, reg_t, ctr_t = outs_t
        pt, rt = _flat(cls_t, c), _flat(reg_t, 4)
        if pt.shape != ps.shape:
            raise ValueError(
                f'Teacher and student heads give {tuple(pt.shape)} and '
                f'{tuple(ps.shape)} outputs: ISD needs the same points and '
                'classes in both heads.')

        def point_loss(cls_pred, reg_pred, ctr_pred):
            lc = head.loss_cls(cls_pred[pos], labels[pos],
                               reduction_override='none').sum(-1)
            boxes = decode(flat_points[pos], reg_pred[pos] * scale)
            lr = head.loss_bbox(boxes, gt_boxes, reduction_override='none')
            return lc + lr, boxes

        l_s, boxes_s = point_loss(ps, rs, cs)
        l_t, boxes_t = point_loss(pt, rt, None)
        w = isd_weights(group_mean(l_s.detach(), inst, num_inst),
                        group_mean(l_t, inst, num_inst),
                        isd.get('tau_w', 1.0))
        giou = bbox_overlaps(boxes_s, boxes_t.detach(), mode='giou',
                             is_aligned=True)
        imitate = _binary_kl(ps[pos], pt[pos]) + (1 - giou)
        m = group_mean(imitate, inst, num_inst)
        has = torch.zeros(num_inst, dtype=torch.bool, device=m.device)
        has[inst] = True
        losses['loss_isd'] = isd.get('loss_weight', 1.0) * (
            (w * m)[has].sum() / has.sum())
    return losses
