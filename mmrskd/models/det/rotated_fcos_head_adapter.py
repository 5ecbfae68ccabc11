"""Per-point losses of mmrotate's ``RotatedFCOSHead`` (anchor-free, oriented
boxes), so that ISD can compare teacher and student per ground-truth
instance and TSA can weight each positive's regression loss.

The head is mmdet's FCOS with an angle branch: its outputs are
``(cls, reg, angle, centerness)`` and its targets the (left, top, right,
bottom) distances in the frame of the ground-truth box plus that box's angle.
The points, the distances in pixels and the instance matching are
:mod:`.fcos_head_adapter`'s. Each positive is matched back to its
ground-truth instance exactly: its target distances and angle decode to the
ground-truth box as the head regularises it (``angle_version``).

Both of the head's box losses are reproduced: with ``use_hbbox_loss`` (the
variant mmrskd's configs use, every op with a CPU kernel) an IoU loss on the
horizontal box in the object's frame (``h_bbox_coder``) plus ``loss_angle``
on the angle; without it a loss on the decoded oriented box (``bbox_coder``,
the angle decoded by ``angle_coder``) and ``loss_angle`` if set. The box loss
is computed from the distances in the head's own units (the level's stride
with ``norm_on_bbox``, pixels without), so with ISD and TSA off
:func:`rotated_fcos_head_losses` returns exactly the head's own losses for
any box loss (tested). mmrotate's ``GDLoss_v1`` is the exception: it ignores
``weight`` and ``avg_factor`` and returns the unreduced loss of every
positive of non-zero centre-ness, where this adapter gives the centre-ness
weighted mean the head documents.
"""
from typing import Dict, List, NamedTuple, Optional, Tuple

import torch
from torch import Tensor

from .dynamic_kd import binary_kl, isd_loss, tsa_weights
from .fcos_head_adapter import (distance_pull, flatten_levels,
                                match_instances, pixel_distances, point_grid)
from .losses.box_geometry import aligned_iou


class _Positives(NamedTuple):
    """Positive points of a batch, their targets and ground truths."""
    labels: Tensor       # (sum points,) class or background of every point
    idx: Tensor          # (P,) indices of the positives among the points
    points: Tensor       # (P, 2) their coordinates
    targets: Tensor      # (P, 4) their target distances, in loss units
    angles: Tensor       # (P, 1) their target angles
    units: Tensor        # (P,) pixels per loss unit (stride or 1)
    strides: Tensor      # (P,) the stride of their level
    ctr_targets: Tensor  # (P,) their centerness targets
    inst: Tensor         # (P,) their instance among all_gt
    all_gt: Tensor       # (num_inst, 5) the batch's boxes, regularised


def _positives(head, cls_maps: List[Tensor], gts) -> _Positives:
    """The head's own targets, each positive matched to its ground-truth
    instance by its decoded target box."""
    grid = point_grid(head, cls_maps)
    labels, targets, angles = (torch.cat(t) for t in head.get_targets(
        grid.per_level, gts))
    idx = ((labels >= 0) & (labels < head.num_classes)).nonzero()[:, 0]
    strides = grid.strides[idx].to(targets.dtype)
    units = strides if head.norm_on_bbox else torch.ones_like(strides)
    # get_targets divides by the stride with norm_on_bbox in any mode
    boxes = head.bbox_coder.decode(grid.points[idx], torch.cat(
        [targets[idx] * units[:, None], angles[idx]], -1))
    # the target angle as get_targets regularised it (decode re-normalises
    # it by the coder's angle_version)
    boxes = torch.cat([boxes[:, :4], angles[idx]], -1)
    regular = [g.bboxes.regularize_boxes(head.angle_version) for g in gts]
    inst = match_instances(boxes, grid.img_ids[idx], regular)
    return _Positives(labels, idx, grid.points[idx], targets[idx],
                      angles[idx], units, strides,
                      head.centerness_target(targets[idx]), inst,
                      torch.cat(regular))


def _per_row(loss: Tensor) -> Tensor:
    """A per-element loss (P,) or (P, K) summed to (P,)."""
    return loss.sum(-1) if loss.dim() == 2 else loss


def _per_positive(head, pos: _Positives, dists: Tensor, angle_pred: Tensor
                  ) -> Tuple[Tensor, Optional[Tensor]]:
    """The head's box loss and angle loss (None without ``loss_angle``) of
    each positive, unweighted, as ``loss_by_feat`` computes them from the
    distances ``dists`` (P, 4) in loss units and the raw angle outputs
    ``angle_pred`` (P, encode_size)."""
    if head.use_hbbox_loss:
        coder, pred, target = head.h_bbox_coder, dists, pos.targets
    else:
        coder = head.bbox_coder
        pred = torch.cat(
            [dists, head.angle_coder.decode(angle_pred, keepdim=True)], -1)
        target = torch.cat([pos.targets, pos.angles], -1)
    box = _per_row(head.loss_bbox(coder.decode(pos.points, pred),
                                  coder.decode(pos.points, target),
                                  reduction_override='none'))
    if head.loss_angle is None:
        return box, None
    angle = head.loss_angle(angle_pred, head.angle_coder.encode(pos.angles),
                            reduction_override='none')
    return box, _per_row(angle)


def _tsa(head, pos: _Positives, rs: Tensor, angs: Tensor, tsa: dict,
         progress: float) -> Tensor:
    """TSA weight of each positive from the rotated IoU of its decoded
    prediction (pixels, the angle decoded) with its ground-truth box."""
    pred = head.bbox_coder.decode(pos.points, torch.cat(
        [rs[pos.idx], head.angle_coder.decode(angs[pos.idx], keepdim=True)],
        -1).detach())
    ious = aligned_iou(pred, pos.all_gt[pos.inst])
    return tsa_weights(pos.all_gt, pos.inst, ious, progress, **tsa)


def rotated_fcos_head_losses(head, outs_s, data_samples, outs_t=None,
                             isd: Optional[dict] = None,
                             tsa: Optional[dict] = None,
                             progress: float = 1.0,
                             t_head=None) -> Dict[str, Tensor]:
    """Rotated FCOS losses of the student and, with ``isd``, the
    instance-selected imitation loss ``loss_isd``.

    TSA weights each positive's box loss and its angle loss (both regress
    the oriented box whose rotated IoU TSA reads). Arguments as
    :func:`.fcos_head_adapter.fcos_head_losses`, the heads
    ``RotatedFCOSHead`` s and their outputs ``(cls, reg, angle,
    centerness)``.
    """
    cls_s, reg_s, ang_s, ctr_s = outs_s
    pos = _positives(head, cls_s, [s.gt_instances for s in data_samples])
    ps = flatten_levels(cls_s, head.cls_out_channels)
    rs = flatten_levels(pixel_distances(head, reg_s), 4)
    angs = flatten_levels(ang_s, head.angle_coder.encode_size)
    cs = flatten_levels(ctr_s, 1)[:, 0]
    num_pos = max(float(len(pos.idx)), 1.0)
    losses = dict(loss_cls=head.loss_cls(ps, pos.labels, avg_factor=num_pos))
    if len(pos.idx) == 0:
        zero = rs.sum() * 0 + angs.sum() * 0 + cs.sum() * 0
        keys = ['loss_bbox'] + ['loss_angle'] * (head.loss_angle is not None)
        keys += ['loss_centerness'] + ['loss_isd'] * (isd is not None)
        return dict(losses, **{k: zero for k in keys})
    box, angle = _per_positive(head, pos, rs[pos.idx] / pos.units[:, None],
                               angs[pos.idx])
    reg_w = torch.ones_like(box) if tsa is None else \
        _tsa(head, pos, rs, angs, tsa, progress)
    ctr_denorm = max(float(pos.ctr_targets.sum()), 1e-6)
    losses['loss_bbox'] = (box * pos.ctr_targets * reg_w).sum() / ctr_denorm
    if angle is not None:
        losses['loss_angle'] = (angle * reg_w).sum() / num_pos
    lc_pos = head.loss_centerness(cs[pos.idx], pos.ctr_targets,
                                  reduction_override='none')
    losses['loss_centerness'] = lc_pos.sum() / num_pos
    if isd is not None:
        losses['loss_isd'] = _isd_loss(head, pos, (ps, rs, angs), outs_t,
                                       t_head, isd)
    return losses


def _isd_loss(head, pos: _Positives, student: Tuple[Tensor, Tensor, Tensor],
              outs_t, t_head, isd: dict) -> Tensor:
    """``loss_isd``: per instance, the ISD weight (from the student's and the
    teacher's classification + box + angle loss of its positives) times the
    mean over its positives of the binary KL of the scores, the
    ``distance_pull`` of the (left, top, right, bottom) distances (as for
    FCOS) and, what the angle adds, the L1 distance of the
    raw angle outputs (``|theta_s - theta_t|`` in radians for the
    one-channel ``PseudoAngleCoder``; not wrapped by the angle's period, as
    the head's own L1 angle loss): 0 for an identical teacher."""
    if outs_t is None or t_head is None:
        raise ValueError('ISD needs the teacher head (t_head) and its '
                         'outputs (outs_t).')
    ps, rs, angs = student
    pt = flatten_levels(outs_t[0], head.cls_out_channels)
    rt = flatten_levels(pixel_distances(t_head, outs_t[1]), 4)
    angt = flatten_levels(outs_t[2], t_head.angle_coder.encode_size)
    if pt.shape != ps.shape or angt.shape != angs.shape or \
            type(t_head.angle_coder) is not type(head.angle_coder):
        raise ValueError(
            f'Teacher and student heads give {tuple(pt.shape)} and '
            f'{tuple(ps.shape)} scores and angles coded by '
            f'{type(t_head.angle_coder).__name__} and '
            f'{type(head.angle_coder).__name__}: ISD needs the same points, '
            'classes and angle coder in both heads.')
    sel, labels = pos.idx, pos.labels[pos.idx]

    def point_loss(cls: Tensor, dists: Tensor, ang: Tensor) -> Tensor:
        lc = head.loss_cls(cls[sel], labels, reduction_override='none')
        box, angle = _per_positive(head, pos, dists[sel] / pos.units[:, None],
                                   ang[sel])
        return _per_row(lc) + box + (0 if angle is None else angle)

    box = distance_pull(rs[sel], rt[sel], pos.strides) + \
        (angs[sel] - angt[sel]).abs().sum(-1)
    return isd_loss(point_loss(ps, rs, angs), point_loss(pt, rt, angt),
                    binary_kl(ps[sel], pt[sel]), box, pos.inst,
                    len(pos.all_gt), **isd)
