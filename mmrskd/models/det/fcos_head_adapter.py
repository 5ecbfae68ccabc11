"""Per-point losses of an mmdet ``FCOSHead`` (anchor-free), so that ISD can
compare teacher and student per ground-truth instance and TSA can weight
each positive's regression loss.

FCOS's own targets do not say which ground truth a positive point belongs
to; the decoded target box of a positive *is* that ground-truth box, so it
is matched back exactly. With ISD and TSA off, :func:`fcos_head_losses`
returns exactly the head's own losses (tested).

Boxes are decoded from distances in pixels. ``FCOSHead.forward_single``
returns pixels, except with ``norm_on_bbox`` in training mode, where the
distances are in units of the level's stride (eval mode multiplies them by
the stride). The student runs in training mode and the frozen teacher in
eval mode, and the two heads may differ in ``norm_on_bbox``, so each head's
outputs are read by that head's own convention (:func:`pixel_distances`).
Scaling both boxes of a pair about their common point leaves IoU and GIoU
unchanged, so the student's box loss still equals mmdet's, which decodes
stride-normalised distances.
"""
from typing import Dict, List, NamedTuple, Optional, Sequence

import torch
from mmdet.structures.bbox import bbox_overlaps
from torch import Tensor

from .dynamic_kd import binary_kl, isd_loss, tsa_weights


def flatten_levels(maps: List[Tensor], channels: int) -> Tensor:
    """[(N, K, H, W)] -> (sum_l N*H*W, K) in FCOS's level-major order."""
    return torch.cat([m.permute(0, 2, 3, 1).reshape(-1, channels)
                      for m in maps])


def _stride(stride) -> float:
    """A level's stride as configured: ``s`` or ``(s_w, s_h)``."""
    return float(stride[0] if isinstance(stride, (tuple, list)) else stride)


def pixel_distances(head, reg_maps: List[Tensor],
                    training: Optional[bool] = None) -> List[Tensor]:
    """The (left, top, right, bottom) distance maps of ``head`` in pixels.

    Args:
        head: the ``FCOSHead`` that produced ``reg_maps``.
        reg_maps: its distance predictions, one (N, 4, H, W) map per level.
        training: the mode the head ran in; by default its current mode
            (the distiller converts right after the forward pass).
    """
    training = head.training if training is None else training
    if not (head.norm_on_bbox and training):
        return list(reg_maps)
    return [r * _stride(s) for r, s in zip(reg_maps, head.strides)]


class _Positives(NamedTuple):
    """Positive points of a batch and their ground truths, in pixels."""
    labels: Tensor       # (sum points,) class or background of every point
    idx: Tensor          # (P,) indices of the positives among the points
    points: Tensor       # (P, 2) their coordinates
    gt_boxes: Tensor     # (P, 4) their target (ground-truth) boxes
    ctr_targets: Tensor  # (P,) their centerness targets
    inst: Tensor         # (P,) their instance among all_gt
    all_gt: Tensor       # (num_inst, 4) the batch's ground-truth boxes
    strides: Tensor      # (P,) the stride of their level


class PointGrid(NamedTuple):
    """Every point of a batch, in the order of :func:`flatten_levels`."""
    per_level: List[Tensor]  # the head's points of each level (n_l, 2)
    points: Tensor           # (sum_l N*n_l, 2) their coordinates
    img_ids: Tensor          # (sum_l N*n_l,) their image
    strides: Tensor          # (sum_l N*n_l,) the stride of their level


def point_grid(head, cls_maps: List[Tensor]) -> PointGrid:
    """The points of ``head`` (an ``FCOSHead``) for its outputs
    ``cls_maps``, one (N, C, H, W) map per level."""
    n_img = cls_maps[0].size(0)
    device = cls_maps[0].device
    per_level = head.prior_generator.grid_priors(
        [c.shape[-2:] for c in cls_maps], dtype=torch.float32, device=device)
    return PointGrid(
        per_level, torch.cat([p.repeat(n_img, 1) for p in per_level]),
        torch.cat([torch.arange(n_img, device=device).repeat_interleave(
            len(p)) for p in per_level]),
        torch.cat([torch.full((n_img * len(p), ), _stride(s), device=device)
                   for p, s in zip(per_level, head.strides)]))


def match_instances(boxes: Tensor, img_ids: Tensor,
                    gt_boxes: Sequence[Tensor]) -> Tensor:
    """The batch-wide instance (the index in ``torch.cat(gt_boxes)``) of
    each positive: the ground truth of its image ``img_ids`` that its decoded
    target box ``boxes`` equals (the nearest one, up to float rounding)."""
    inst = torch.empty(len(boxes), dtype=torch.long, device=boxes.device)
    offset = 0
    for i, gt in enumerate(gt_boxes):
        sel = img_ids == i
        if sel.any():
            d = (boxes[sel, None] - gt[None]).abs().sum(-1)
            inst[sel] = d.argmin(1) + offset
        offset += len(gt)
    return inst


def _positives(head, cls_maps: List[Tensor], gts) -> _Positives:
    """The head's own targets, with each positive matched to its
    ground-truth instance by its decoded target box."""
    grid = point_grid(head, cls_maps)
    labels, targets = head.get_targets(grid.per_level, gts)
    labels, targets = torch.cat(labels), torch.cat(targets)
    idx = ((labels >= 0) & (labels < head.num_classes)).nonzero()[:, 0]
    strides = grid.strides[idx].to(targets.dtype)
    pos_targets = targets[idx]
    if head.norm_on_bbox:  # get_targets divides by the stride in any mode
        pos_targets = pos_targets * strides[:, None]
    gt_boxes = head.bbox_coder.decode(grid.points[idx], pos_targets)
    inst = match_instances(gt_boxes, grid.img_ids[idx],
                           [g.bboxes for g in gts])
    return _Positives(labels, idx, grid.points[idx], gt_boxes,
                      head.centerness_target(targets[idx]), inst,
                      torch.cat([g.bboxes for g in gts]), strides)


def fcos_head_losses(head, outs_s, data_samples, outs_t=None,
                     isd: Optional[dict] = None, tsa: Optional[dict] = None,
                     progress: float = 1.0,
                     t_head=None) -> Dict[str, Tensor]:
    """FCOS losses of the student (TSA on the box loss of each positive) and,
    with ``isd``, the instance-selected imitation loss ``loss_isd``.

    Args:
        head: the student's ``FCOSHead``, whose targets and losses are used.
        outs_s: its outputs ``(cls, reg, centerness)``, in its current mode.
        data_samples: the batch's ``DetDataSample`` s.
        outs_t: the teacher head's outputs (ISD only).
        isd: ISD settings (``tau_w``, ``loss_weight``) or None.
        tsa: TSA settings (``gamma_max``, ``eta``) or None.
        progress: training progress in [0, 1] (TSA's ramp).
        t_head: the teacher's ``FCOSHead`` that produced ``outs_t``, in the
            mode it ran in: its ``norm_on_bbox`` and mode decide how its
            distances are read.
    """
    cls_s, reg_s, ctr_s = outs_s
    gts = [s.gt_instances for s in data_samples]
    ps = flatten_levels(cls_s, head.cls_out_channels)
    rs = flatten_levels(pixel_distances(head, reg_s), 4)
    cs = flatten_levels(ctr_s, 1)[:, 0]
    pos = _positives(head, cls_s, gts)
    num_pos = max(float(len(pos.idx)), 1.0)
    losses = dict(loss_cls=head.loss_cls(ps, pos.labels, avg_factor=num_pos))
    if len(pos.idx) == 0:
        zero = rs.sum() * 0 + cs.sum() * 0
        losses.update(loss_bbox=zero, loss_centerness=zero)
        if isd is not None:
            losses['loss_isd'] = zero
        return losses

    pred_boxes = head.bbox_coder.decode(pos.points, rs[pos.idx])
    reg_w = torch.ones_like(pos.ctr_targets)
    if tsa is not None:
        ious = bbox_overlaps(pred_boxes.detach(), pos.gt_boxes,
                             is_aligned=True)
        reg_w = tsa_weights(pos.all_gt, pos.inst, ious, progress, **tsa)
    lb = head.loss_bbox(pred_boxes, pos.gt_boxes, reduction_override='none')
    ctr_denorm = max(float(pos.ctr_targets.sum()), 1e-6)
    losses['loss_bbox'] = (lb * pos.ctr_targets * reg_w).sum() / ctr_denorm
    lc_pos = head.loss_centerness(cs[pos.idx], pos.ctr_targets,
                                  reduction_override='none')
    losses['loss_centerness'] = lc_pos.sum() / num_pos
    if isd is not None:
        losses['loss_isd'] = _isd_loss(head, pos, ps, rs, outs_t, t_head,
                                       isd)
    return losses


def distance_pull(student: Tensor, teacher: Tensor,
                  strides: Tensor) -> Tensor:
    """ISD's box pull of a point head, per positive:
    ``sum_sides |log(1 + d_s / s) - log(1 + d_t / s)|`` for the (left, top,
    right, bottom) distances ``d`` (P, 4) in pixels and the stride ``s`` (P,)
    of each positive's level.

    The L1 of log distances, as the L1 of an anchor head's deltas is for the
    box sizes: 0 for identical predictions, also for zero-size boxes (where
    ``1 - GIoU`` would be 1), and its gradient in ``d_s`` is at most
    ``1 / s``, so through FCOS's ``exp`` it is bounded by the level's
    ``Scale``. The L1 of the distances themselves pulls with a force that
    grows with ``d_s``: on Airbus, from an 80.3 mAP@0.5 teacher, it left
    the student's left and top distances at 0.26 and 0.0003 px after one
    epoch, where neither it nor the IoU loss can lift them (their gradients
    through ``exp`` vanish), and the student ended at 4.95 mAP@0.5
    (docs/benchmarks.md)."""
    s = strides[:, None]
    return (torch.log1p(student / s) - torch.log1p(teacher / s)).abs().sum(-1)


def _isd_loss(head, pos: _Positives, ps: Tensor, rs: Tensor, outs_t,
              t_head, isd: dict) -> Tensor:
    """``loss_isd``: per instance, the ISD weight times the mean over its
    positives of the binary KL of the scores plus :func:`distance_pull` of
    the (left, top, right, bottom) distances."""
    if outs_t is None or t_head is None:
        raise ValueError('ISD needs the teacher head (t_head) and its '
                         'outputs (outs_t).')
    cls_t, reg_t = outs_t[0], outs_t[1]
    pt = flatten_levels(cls_t, head.cls_out_channels)
    if pt.shape != ps.shape:
        raise ValueError(
            f'Teacher and student heads give {tuple(pt.shape)} and '
            f'{tuple(ps.shape)} outputs: ISD needs the same points and '
            'classes in both heads.')
    rt = flatten_levels(pixel_distances(t_head, reg_t), 4)
    boxes_t = head.bbox_coder.decode(pos.points, rt[pos.idx])
    pred_boxes = head.bbox_coder.decode(pos.points, rs[pos.idx])
    labels = pos.labels[pos.idx]

    def point_loss(cls_pred: Tensor, boxes: Tensor) -> Tensor:
        lc = head.loss_cls(cls_pred[pos.idx], labels,
                           reduction_override='none').sum(-1)
        return lc + head.loss_bbox(boxes, pos.gt_boxes,
                                   reduction_override='none')

    return isd_loss(point_loss(ps, pred_boxes), point_loss(pt, boxes_t),
                    binary_kl(ps[pos.idx], pt[pos.idx]),
                    distance_pull(rs[pos.idx], rt[pos.idx], pos.strides),
                    pos.inst, len(pos.all_gt), **isd)
