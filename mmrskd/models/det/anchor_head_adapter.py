"""Per-anchor losses of an mmdet ``AnchorHead`` (RetinaNet-style), so that
ISD can compare teacher and student per ground-truth instance and TSA can
weight each positive's regression loss.

With ISD and TSA off, :func:`anchor_head_losses` returns exactly the
head's own ``loss_cls``/``loss_bbox`` (tested).
"""
from typing import Dict, List, Optional

import torch
import torch.nn.functional as F
from mmdet.models.task_modules.prior_generators import anchor_inside_flags
from mmdet.structures.bbox import bbox_overlaps, get_box_tensor
from torch import Tensor

from .dynamic_kd import group_mean, isd_weights, tsa_weights


def _flatten(maps: List[Tensor], channels: int) -> Tensor:
    """[(N, A*K, H, W)] per level -> (N, sum H*W*A, K), mmdet's order."""
    return torch.cat([m.permute(0, 2, 3, 1).reshape(m.size(0), -1, channels)
                      for m in maps], dim=1)


def _binary_kl(student_logits: Tensor, teacher_logits: Tensor) -> Tensor:
    """Sum over classes of KL(Bernoulli(sigmoid t) || Bernoulli(sigmoid s))."""
    p = torch.sigmoid(teacher_logits)
    ce = F.binary_cross_entropy_with_logits(student_logits, p,
                                            reduction='none')
    ent = F.binary_cross_entropy_with_logits(teacher_logits, p,
                                             reduction='none')
    return (ce - ent).sum(-1)


def anchor_head_losses(head, cls_s: List[Tensor], reg_s: List[Tensor],
                       data_samples, cls_t: Optional[List[Tensor]] = None,
                       reg_t: Optional[List[Tensor]] = None,
                       isd: Optional[dict] = None,
                       tsa: Optional[dict] = None,
                       progress: float = 1.0) -> Dict[str, Tensor]:
    """Detection loss of the student head (with TSA weights on the
    regression of each positive) and, with ``isd``, the instance-selected
    imitation loss ``loss_isd``."""
    gts = [s.gt_instances for s in data_samples]
    metas = [s.metainfo for s in data_samples]
    ignores = [s.ignored_instances if 'ignored_instances' in s else None
               for s in data_samples]
    device = cls_s[0].device
    sizes = [c.shape[-2:] for c in cls_s]
    anchors, valid = head.get_anchors(sizes, metas, device=device)
    (labels, label_w, bbox_t, bbox_w, avg_factor,
     sampling) = head.get_targets(anchors, valid, gts, metas, ignores,
                                  return_sampling_results=True)
    labels = torch.cat(labels, 1)
    label_w = torch.cat(label_w, 1)
    bbox_t = torch.cat(bbox_t, 1)
    bbox_w = torch.cat(bbox_w, 1)
    flat_anchors = torch.stack([torch.cat(a) for a in anchors])
    c = head.cls_out_channels
    code = head.bbox_coder.encode_size
    ps, rs = _flatten(cls_s, c), _flatten(reg_s, code)

    def per_anchor(cls_pred, reg_pred):
        lc = head.loss_cls(cls_pred.reshape(-1, c), labels.reshape(-1),
                           label_w.reshape(-1), reduction_override='none')
        if lc.dim() == 2:
            lc = lc.sum(-1)
        pred, target = reg_pred, bbox_t
        if head.reg_decoded_bbox:
            pred = get_box_tensor(head.bbox_coder.decode(
                flat_anchors.reshape(-1, 4), reg_pred.reshape(-1, code)))
        lr = head.loss_bbox(pred.reshape(-1, target.size(-1)),
                            target.reshape(-1, target.size(-1)),
                            bbox_w.reshape(-1, bbox_w.size(-1)),
                            reduction_override='none')
        if lr.dim() == 2:
            lr = lr.sum(-1)
        return lc.view(labels.shape), lr.view(labels.shape)

    lc_s, lr_s = per_anchor(ps, rs)
    # positives: full-array index and the gt instance each is assigned to
    pos_img, pos_idx, pos_gt, offsets = [], [], [], [0]
    for i, (res, meta) in enumerate(zip(sampling, metas)):
        inside = anchor_inside_flags(flat_anchors[i], torch.cat(valid[i]),
                                     meta['img_shape'][:2],
                                     head.train_cfg['allowed_border'])
        full = inside.nonzero().squeeze(1)[res.pos_inds]
        pos_img.append(torch.full_like(full, i))
        pos_idx.append(full)
        pos_gt.append(res.pos_assigned_gt_inds + offsets[-1])
        offsets.append(offsets[-1] + len(gts[i]))
    pos_img, pos_idx, pos_gt = (torch.cat(x) for x in (pos_img, pos_idx,
                                                       pos_gt))
    num_inst = offsets[-1]
    all_boxes = torch.cat([g.bboxes for g in gts]) if num_inst else \
        flat_anchors.new_zeros((0, 4))

    reg_weight = torch.ones_like(lr_s)
    if tsa is not None and len(pos_idx):
        pred_boxes = get_box_tensor(head.bbox_coder.decode(
            flat_anchors[pos_img, pos_idx], rs[pos_img, pos_idx].detach()))
        gt_boxes = get_box_tensor(all_boxes)[pos_gt]
        ious = bbox_overlaps(pred_boxes, gt_boxes, is_aligned=True)
        inst_w = tsa_weights(get_box_tensor(all_boxes), torch.zeros(
            num_inst, device=device), progress, **tsa)
        # the per-instance shape term, times this positive's (1 - IoU)^eta
        eta = tsa.get('eta', 1.0)
        weights = 1 + (inst_w[pos_gt] - 1) * (1 - ious.clamp(0, 1))**eta
        reg_weight[pos_img, pos_idx] = weights
    losses = dict(loss_cls=lc_s.sum() / avg_factor,
                  loss_bbox=(lr_s * reg_weight).sum() / avg_factor)

    if isd is not None:
        if cls_t is None:
            raise ValueError('ISD needs the teacher head outputs.')
        pt, rt = _flatten(cls_t, c), _flatten(reg_t, code)
        if pt.shape != ps.shape:
            raise ValueError(
                f'Teacher and student heads give {tuple(pt.shape)} and '
                f'{tuple(ps.shape)} outputs: ISD needs the same anchors and '
                'classes in both heads.')
        if len(pos_idx) == 0:
            losses['loss_isd'] = ps.sum() * 0
            return losses
        lc_t, lr_t = per_anchor(pt, rt)
        sel = (pos_img, pos_idx)
        l_s = group_mean((lc_s[sel] + lr_s[sel]).detach(), pos_gt, num_inst)
        l_t = group_mean(lc_t[sel] + lr_t[sel], pos_gt, num_inst)
        w = isd_weights(l_s, l_t, isd.get('tau_w', 1.0))
        imitate = _binary_kl(ps[sel], pt[sel]) + \
            (rs[sel] - rt[sel]).abs().sum(-1)
        m = group_mean(imitate, pos_gt, num_inst)
        has = torch.zeros(num_inst, dtype=torch.bool, device=device)
        has[pos_gt] = True
        losses['loss_isd'] = isd.get('loss_weight', 1.0) * (
            (w * m)[has].sum() / has.sum().clamp(min=1))
    return losses


