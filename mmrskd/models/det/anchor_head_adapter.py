"""Per-anchor losses of an mmdet ``AnchorHead`` (RetinaNet-style), so that
ISD can compare teacher and student per ground-truth instance and TSA can
weight each positive's regression loss. The adapter only reads the head's
targets and per-anchor losses; TSA, ISD and their reduction are
:mod:`.dynamic_kd`'s.

With ISD and TSA off, :func:`anchor_head_losses` returns exactly the
head's own ``loss_cls``/``loss_bbox`` (tested). mmrotate's rotated
RetinaNet is such a head (mmdet's ``RetinaHead`` with oriented anchors and
a 5-value box coder): its positives come from its rotated-IoU assigner, and
TSA takes the rotated IoU and the oriented boxes' sides.
"""
from typing import Dict, List, NamedTuple, Optional

import torch
from mmdet.models.task_modules.prior_generators import anchor_inside_flags
from mmdet.structures.bbox import cat_boxes, get_box_tensor
from torch import Tensor

from .dynamic_kd import binary_kl, instance_ids, isd_loss, tsa_weights
from .losses.box_geometry import aligned_iou


def _flatten(maps: List[Tensor], channels: int) -> Tensor:
    """[(N, A*K, H, W)] per level -> (N, sum H*W*A, K), mmdet's order."""
    return torch.cat([m.permute(0, 2, 3, 1).reshape(m.size(0), -1, channels)
                      for m in maps], dim=1)


class _Targets(NamedTuple):
    labels: Tensor  # (N, A) over all levels' anchors
    label_w: Tensor
    bbox_t: Tensor
    bbox_w: Tensor
    avg_factor: float
    anchors: Tensor  # (N, A, 4), or (N, A, 5) oriented (mmrotate)
    pos: tuple  # (image, anchor) index of each positive
    inst: Tensor  # batch-wide instance of each positive
    num_inst: int
    gt_boxes: Tensor  # (num_inst, 4 or 5)


def _targets(head, cls_s: List[Tensor], data_samples) -> _Targets:
    """The head's own targets, and where its positives are."""
    gts = [s.gt_instances for s in data_samples]
    metas = [s.metainfo for s in data_samples]
    ignores = [s.ignored_instances if 'ignored_instances' in s else None
               for s in data_samples]
    anchors, valid = head.get_anchors([c.shape[-2:] for c in cls_s], metas,
                                      device=cls_s[0].device)
    (labels, label_w, bbox_t, bbox_w, avg_factor,
     sampling) = head.get_targets(anchors, valid, gts, metas, ignores,
                                  return_sampling_results=True)
    # per image, a tensor or (mmrotate's anchors) a box structure
    per_image = [cat_boxes(a) for a in anchors]
    flat = torch.stack([get_box_tensor(a) for a in per_image])
    pos_img, pos_idx = [], []
    for i, (res, meta) in enumerate(zip(sampling, metas)):
        inside = anchor_inside_flags(per_image[i], torch.cat(valid[i]),
                                     meta['img_shape'][:2],
                                     head.train_cfg['allowed_border'])
        full = inside.nonzero().squeeze(1)[res.pos_inds]
        pos_img.append(torch.full_like(full, i))
        pos_idx.append(full)
    inst, num_inst = instance_ids([r.pos_assigned_gt_inds for r in sampling],
                                  [len(g) for g in gts])
    boxes = torch.cat([get_box_tensor(g.bboxes) for g in gts]) if num_inst \
        else flat.new_zeros((0, flat.size(-1)))
    return _Targets(torch.cat(labels, 1), torch.cat(label_w, 1),
                    torch.cat(bbox_t, 1), torch.cat(bbox_w, 1), avg_factor,
                    flat, (torch.cat(pos_img), torch.cat(pos_idx)), inst,
                    num_inst, boxes)


def _per_anchor(head, t: _Targets, cls_pred: Tensor, reg_pred: Tensor):
    """The head's classification and regression loss of every anchor."""
    c, code = head.cls_out_channels, head.bbox_coder.encode_size
    lc = head.loss_cls(cls_pred.reshape(-1, c), t.labels.reshape(-1),
                       t.label_w.reshape(-1), reduction_override='none')
    pred, target = reg_pred, t.bbox_t
    if head.reg_decoded_bbox:
        pred = get_box_tensor(head.bbox_coder.decode(
            t.anchors.reshape(-1, t.anchors.size(-1)),
            reg_pred.reshape(-1, code)))
    lr = head.loss_bbox(pred.reshape(-1, target.size(-1)),
                        target.reshape(-1, target.size(-1)),
                        t.bbox_w.reshape(-1, t.bbox_w.size(-1)),
                        reduction_override='none')
    lc = lc.sum(-1) if lc.dim() == 2 else lc
    lr = lr.sum(-1) if lr.dim() == 2 else lr
    return lc.view(t.labels.shape), lr.view(t.labels.shape)


def anchor_head_losses(head, cls_s: List[Tensor], reg_s: List[Tensor],
                       data_samples, cls_t: Optional[List[Tensor]] = None,
                       reg_t: Optional[List[Tensor]] = None,
                       isd: Optional[dict] = None,
                       tsa: Optional[dict] = None,
                       progress: float = 1.0) -> Dict[str, Tensor]:
    """Detection loss of the student head (with TSA weights on the
    regression of each positive) and, with ``isd``, the instance-selected
    imitation loss ``loss_isd``."""
    t = _targets(head, cls_s, data_samples)
    ps = _flatten(cls_s, head.cls_out_channels)
    rs = _flatten(reg_s, head.bbox_coder.encode_size)
    lc_s, lr_s = _per_anchor(head, t, ps, rs)
    reg_weight = torch.ones_like(lr_s)
    if tsa is not None and len(t.inst):
        pred = get_box_tensor(head.bbox_coder.decode(
            t.anchors[t.pos], rs[t.pos].detach()))
        ious = aligned_iou(pred, t.gt_boxes[t.inst])
        reg_weight[t.pos] = tsa_weights(t.gt_boxes, t.inst, ious, progress,
                                        **tsa)
    losses = dict(loss_cls=lc_s.sum() / t.avg_factor,
                  loss_bbox=(lr_s * reg_weight).sum() / t.avg_factor)
    if isd is None:
        return losses
    if cls_t is None:
        raise ValueError('ISD needs the teacher head outputs.')
    pt = _flatten(cls_t, head.cls_out_channels)
    rt = _flatten(reg_t, head.bbox_coder.encode_size)
    if pt.shape != ps.shape:
        raise ValueError(
            f'Teacher and student heads give {tuple(pt.shape)} and '
            f'{tuple(ps.shape)} outputs: ISD needs the same anchors and '
            'classes in both heads.')
    if not len(t.inst):
        losses['loss_isd'] = ps.sum() * 0
        return losses
    lc_t, lr_t = _per_anchor(head, t, pt, rt)
    sel = t.pos
    losses['loss_isd'] = isd_loss(
        lc_s[sel] + lr_s[sel], lc_t[sel] + lr_t[sel],
        binary_kl(ps[sel], pt[sel]), (rs[sel] - rt[sel]).abs().sum(-1),
        t.inst, t.num_inst, **isd)
    return losses
