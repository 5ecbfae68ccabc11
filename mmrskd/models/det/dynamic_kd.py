"""Dynamic knowledge distillation for detectors (TGRS, article 5613819):
global distillation on valuable regions (GD), dynamic instance selection
(ISD) and a training-status-aware regression loss (TSA).

The paper gives no closed forms; the functions below are mmrskd's reading
of its text (docs/methods.md, "Dynamic knowledge distillation for
detectors"). Each is pure torch.
"""
from typing import List, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from ..losses.utils import normalize_per_sample
from .losses.box_geometry import box_wh, cells_in_boxes


def teacher_attention(teacher_feat: Tensor, tau: float = 0.5) -> Tensor:
    """``Att = HW * softmax_{h,w}(mean_c |Ft| / tau)``, shape (N, H, W);
    its mean over positions is 1."""
    n, _, h, w = teacher_feat.shape
    logits = teacher_feat.abs().mean(1).flatten(1) / tau
    return (h * w * F.softmax(logits, dim=1)).view(n, h, w)


def box_mask(boxes: Sequence[Tensor], size: Tuple[int, int],
             stride: float) -> Tensor:
    """(N, H, W) bool: positions whose cell centre lies inside a box of
    their image (all boxes of the batch at once, no loop over images);
    horizontal (n_i, 4) or oriented (n_i, 5) boxes."""
    h, w = size
    n = len(boxes)
    device = boxes[0].device if n else 'cpu'
    counts = torch.tensor([len(b) for b in boxes], device=device)
    if int(counts.sum()) == 0:
        return torch.zeros(n, h, w, dtype=torch.bool, device=device)
    b = torch.cat(list(boxes)).float()
    image = torch.repeat_interleave(torch.arange(n, device=device), counts)
    inside = cells_in_boxes(b, size, (stride, stride)).flatten(1)
    hits = torch.zeros(n, h * w, dtype=torch.int32, device=device)
    hits.index_add_(0, image, inside.int())
    return (hits > 0).view(n, h, w)


def selected_mean(values: Tensor, selected: Tensor) -> Tensor:
    """Per-sample mean of ``values`` (N, H, W or N, H*W) over the
    ``selected`` (N, H*W) positions, averaged over the samples that have
    any."""
    sel = selected.to(values.dtype)
    count = sel.sum(1)
    has = count > 0
    if not bool(has.any()):
        return values.new_zeros(())
    sums = (values.flatten(1) * sel).sum(1)
    return (sums[has] / count[has]).mean()


def topk_mean(values: Tensor, mask: Tensor, ratio: float) -> Tuple[Tensor,
                                                                   Tensor]:
    """Mean of the top ``ceil(ratio * n)`` values among the ``n`` positions
    of ``mask`` (per sample, then averaged over samples that have any).

    Returns ``(mean, selected)`` with ``selected`` the (N, H*W) bool mask of
    the chosen positions. One sort for the whole batch, no loop.
    """
    flat = values.flatten(1)
    m = mask.flatten(1)
    # ceil in float64, as Python's math.ceil(ratio * n) (0.1 * 30 -> 4)
    k = torch.ceil(m.sum(1).double() * ratio).long()
    masked = flat.masked_fill(~m, float('-inf'))
    order = masked.argsort(dim=1, descending=True, stable=True)
    take = torch.arange(flat.size(1), device=flat.device)[None] < k[:, None]
    selected = torch.zeros_like(m).scatter_(1, order, take)
    return selected_mean(flat, selected), selected


def gd_level_loss(student_feat: Tensor, teacher_feat: Tensor,
                  gt_boxes: Sequence[Tensor], stride: float,
                  k_fg: float = 0.5, k_bg: float = 0.1, w_fg: float = 1.0,
                  w_bg: float = 1.0, tau: float = 0.5) -> Tensor:
    """GD on one FPN level (student map already aligned to the teacher's).

    ``D = mean_c (norm(Ft) - norm(A(Fs)))^2`` per position. The teacher
    attention weights it to rank the positions: the top ``k_fg`` share of
    ``Att * D`` inside ground-truth boxes and the top ``k_bg`` share outside
    them are selected at every call (the "valuable regions", dynamic because
    they follow the student), and, as the formula in docs/methods.md writes it,
    ``L = w_fg * mean_{fg sel} D + w_bg * mean_{bg sel} D``.
    (Averaging ``Att * D`` instead measured 107 against a detection loss of
    2 on Airbus at tau 0.5, where ``Att`` reaches hundreds at the peaks.)
    """
    teacher_feat = teacher_feat.detach()
    d = ((normalize_per_sample(teacher_feat) -
          normalize_per_sample(student_feat))**2).mean(1)
    weighted = (teacher_attention(teacher_feat, tau) * d).detach()
    fg = box_mask(gt_boxes, tuple(d.shape[1:]), stride)
    _, sel_fg = topk_mean(weighted, fg, k_fg)
    _, sel_bg = topk_mean(weighted, ~fg, k_bg)
    return w_fg * selected_mean(d, sel_fg) + w_bg * selected_mean(d, sel_bg)


def isd_weights(student_inst_loss: Tensor, teacher_inst_loss: Tensor,
                tau_w: float = 1.0) -> Tensor:
    """``w_k = sigmoid((l_k^S - l_k^T) / tau_w)``: near 1 where the teacher
    is much better on instance k, near 0 where it is worse (outliers that
    should not be inherited). Detached."""
    return torch.sigmoid((student_inst_loss - teacher_inst_loss).detach() /
                         tau_w)


def tsa_weights(boxes: Tensor, inst: Tensor, ious: Tensor, progress: float,
                gamma_max: float = 1.0, eta: float = 1.0) -> Tensor:
    """TSA weight of each positive's regression loss:
    ``1 + gamma(progress) * (a_k + s_k) * (1 - IoU)^eta``, ``k = inst``.

    ``boxes``: the batch's ground-truth boxes, (K, 4) xyxy or (K, 5)
    oriented (the aspect and size of their sides); ``inst``: the
    box each positive is assigned to (P,); ``ious``: the IoU of each
    positive's predicted box with it (P,). ``a_k``: ``log(max(w/h, h/w))``
    normalised by its batch max (elongated boxes), ``s_k = 1 - sqrt(area_k)
    / sqrt(max area)`` (small boxes); ``gamma`` ramps linearly from 0 to
    ``gamma_max`` over the first half of training (``progress`` in
    [0, 1]). Detached.
    """
    w, h = (x.clamp(min=1e-6) for x in box_wh(boxes.detach().float()))
    aspect = torch.log(torch.maximum(w / h, h / w))
    a = aspect / aspect.max().clamp(min=1e-6)
    root = torch.sqrt(w * h)
    s = 1 - root / root.max().clamp(min=1e-6)
    gamma = gamma_max * min(max(progress, 0.0) / 0.5, 1.0)
    shape = gamma * (a + s)
    return 1 + shape[inst] * (1 - ious.detach().float().clamp(0, 1))**eta


def binary_kl(student_logits: Tensor, teacher_logits: Tensor) -> Tensor:
    """Sum over classes of KL(Bernoulli(sigmoid t) || Bernoulli(sigmoid s))
    (sigmoid classifiers: RetinaNet, FCOS)."""
    p = torch.sigmoid(teacher_logits)
    ce = F.binary_cross_entropy_with_logits(student_logits, p,
                                            reduction='none')
    ent = F.binary_cross_entropy_with_logits(teacher_logits, p,
                                             reduction='none')
    return (ce - ent).sum(-1)


def instance_ids(assigned: Sequence[Tensor], counts: Sequence[int]
                 ) -> Tuple[Tensor, int]:
    """Batch-wide instance of each positive (its image's ground-truth index
    plus the boxes of the images before) and the batch's instance count."""
    offsets = [0]
    for n in counts:
        offsets.append(offsets[-1] + int(n))
    ids = [a + o for a, o in zip(assigned, offsets)]
    return torch.cat(ids) if ids else torch.zeros(0, dtype=torch.long), \
        offsets[-1]


def isd_loss(student_loss: Tensor, teacher_loss: Tensor,
             imitate_cls: Tensor, imitate_box: Tensor, inst: Tensor,
             num_inst: int, tau_w: float = 1.0, loss_weight: float = 1.0,
             cls_weight: float = 1.0, box_weight: float = 1.0) -> Tensor:
    """ISD: ``loss_weight * mean_k w_k * m_k`` over the instances that have
    a positive, ``w_k`` = :func:`isd_weights` of the student's and the
    teacher's detection losses averaged over instance k's positives, ``m_k``
    the mean over them of the per-positive imitation loss
    ``cls_weight * imitate_cls + box_weight * imitate_box`` (the head's
    score and box imitation; the weights, 1 each as in the paper, are
    there to ablate one of the two). All inputs are per positive; ``inst``
    maps them to instances."""
    w = isd_weights(group_mean(student_loss.detach(), inst, num_inst),
                    group_mean(teacher_loss, inst, num_inst), tau_w)
    imitate = cls_weight * imitate_cls + box_weight * imitate_box
    m = group_mean(imitate, inst, num_inst)
    has = torch.zeros(num_inst, dtype=torch.bool, device=m.device)
    has[inst] = True
    return loss_weight * (w * m)[has].sum() / has.sum().clamp(min=1)


def group_mean(values: Tensor, groups: Tensor, num_groups: int) -> Tensor:
    """Mean of ``values`` per group id (0..num_groups-1); 0 for empty."""
    out = values.new_zeros(num_groups).index_add(0, groups, values)
    cnt = values.new_zeros(num_groups).index_add(
        0, groups, torch.ones_like(values))
    return out / cnt.clamp(min=1)


def level_strides(image_size: Tuple[int, int],
                  feats: Sequence[Tensor]) -> List[float]:
    """Stride of each level from the padded input size."""
    return [image_size[0] / f.shape[-2] for f in feats]
