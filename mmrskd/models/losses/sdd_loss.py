"""SDD: Wei, Luo, Luo. Scale Decoupled Distillation, CVPR 2024
(arXiv 2403.13512). Official code: https://github.com/shicaiwei123/SDD-CVPR2024
(``mdistiller/distillers/KD.py`` ``sdd_kd_loss``, ``SDD_DKD.py``, the SPP
module of ``mdistiller/models/*/utils.py``)."""
from typing import Callable, Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmpretrain.registry import MODELS
from torch import Tensor

from .dkd_loss import DKDLoss, dkd_loss
from .sdd_regions import local_features, region_weights
from .utils import hard_labels, kl_rows


def sdd_loss(student_local: Tensor, teacher_local: Tensor, labels: Tensor,
             temperature: float = 4.0, beta: float = 2.0, base: str = 'kd',
             split: str = 'label', dkd_alpha: float = 1.0,
             dkd_beta: float = 8.0) -> Tensor:
    """``T^2 / (N R) * sum_{i,k} w_ik * L(zs_ik, zt_ik)`` on local logits
    (N, R, K); ``L`` is ``KL(p_t || p_s)`` (``base='kd'``) or DKD's
    ``dkd_alpha * TCKD + dkd_beta * NCKD``, ``w`` :func:`region_weights`.
    Teacher logits are detached; soft (N, K) labels use their argmax."""
    if student_local.dim() != 3 or student_local.shape != teacher_local.shape:
        raise ValueError(
            'sdd_loss: student and teacher local logits must both be '
            f'(N, R, K), got {tuple(student_local.shape)} and '
            f'{tuple(teacher_local.shape)}.')
    if base not in ('kd', 'dkd') or split not in ('label', 'class'):
        raise ValueError(f'sdd_loss: unknown base {base!r} or split '
                         f'{split!r}.')
    n, r, k = student_local.shape
    t = temperature
    teacher_local = teacher_local.detach()
    target = hard_labels(labels, k).to(student_local.device)
    w = region_weights(teacher_local, target, beta, split).reshape(n * r)
    zs = student_local.reshape(n * r, k)
    zt = teacher_local.reshape(n * r, k)
    if base == 'dkd':
        rep = target.repeat_interleave(r)
        return dkd_loss(zs, zt, rep, dkd_alpha * w, dkd_beta * w, t)
    per_row = kl_rows(F.log_softmax(zt / t, dim=1), F.log_softmax(zs / t, 1))
    return (w * per_row).mean() * t * t


@MODELS.register_module()
class SDDLoss(nn.Module):
    """Scale decoupled distillation of the final feature maps.

    Both maps are pooled into ``R = sum_m m^2`` regions (21 for scales 1, 2,
    4: global, 2x2, 4x4) and each pooled feature goes through its own
    model's classifier, giving (N, R, K) local logits; as the classifier is
    linear this equals pooling its class activation map. ``loss =
    loss_weight * warm-up * sdd_loss(...)``; the teacher's classifier runs
    under ``no_grad`` on the detached teacher map. With ``scales=(1,)`` it
    is plain KD / DKD on the global logits.

    Official code vs. paper (the official code is followed unless said):

    - Split: the code calls a local term complementary when the teacher's
      local prediction is right about the label and its global one is not,
      or vice versa; the paper's text, to our reading, compares the
      predicted classes (``split='class'``).
    - beta: 2, fixed in the code; the reduction is the mean over all N * R
      region pairs (``/ (N R)``), the global one weighted 1.
    - Pooling (paper: plain region averages): the official SPP adaptive-
      pools to a 4x4 grid and the coarser scales from that grid, which is
      followed for the default scales. With H, W divisible by 4 that is
      exact region averaging; on 7x7 ImageNet ResNet maps the 4x4 cells
      overlap and even the "global" region is not the map's mean. Our grid
      is ``max(scales)``: this departs from the official code (which keeps
      the 4x4 grid for M = [1, 2]) only for other scales on such maps.
    - ``base='dkd'``: official SD-DKD, with DKD's linear warm-up
      (``min(epoch / 20, 1)`` on CIFAR, via :class:`DKDLoss`); its alpha
      1 / beta 8 / T 4 (ImageNet: beta 0.5, T 1, warm-up 1 epoch).
      The official NaN guard (loss -> 0) is not needed: everything is
      computed in log space.
    - Temperature 4 and the KD weight 0.9 with the student's CE weight 0.1
      (mdistiller's defaults); here ``loss_weight`` is 1 as in
      :class:`KDLoss`: set 0.9 and the head's CE weight 0.1 to match.

    Args:
        scales: grid sizes, increasing, starting with 1 (the global region).
        temperature: softmax temperature T. Defaults to 4.
        beta: weight of the complementary terms. Defaults to 2.
        base: ``'kd'`` (SD-KD) or ``'dkd'`` (SD-DKD).
        loss_weight: weight of the loss. Defaults to 1.
        split: ``'label'`` (official) or ``'class'`` (see above).
        dkd: :class:`DKDLoss` arguments (alpha, beta, warmup_epochs,
            warmup_iters) for ``base='dkd'``; default DKDLoss's.
    """

    def __init__(self, scales: Sequence[int] = (1, 2, 4),
                 temperature: float = 4.0, beta: float = 2.0,
                 base: str = 'kd', loss_weight: float = 1.0,
                 split: str = 'label', dkd: Optional[dict] = None):
        super().__init__()
        scales = tuple(scales)
        if (not scales or scales[0] != 1 or any(
                not isinstance(m, int) or m < 1 for m in scales)
                or list(scales) != sorted(set(scales))):
            raise ValueError('SDDLoss: scales must be increasing positive '
                             f'integers starting with 1, got {scales!r}.')
        if temperature <= 0:
            raise ValueError(f'SDDLoss: temperature must be > 0, got '
                             f'{temperature}.')
        if beta < 0:
            raise ValueError(f'SDDLoss: beta must be >= 0, got {beta}.')
        if base not in ('kd', 'dkd') or split not in ('label', 'class'):
            raise ValueError(f"SDDLoss: base must be 'kd' or 'dkd' and split "
                             f"'label' or 'class', got {base!r}, {split!r}.")
        extra = set(dkd or {}) - {'alpha', 'beta', 'warmup_epochs',
                                  'warmup_iters'}
        if (dkd is not None and base != 'dkd') or extra:
            raise ValueError(f"SDDLoss: dkd={dkd!r} needs base='dkd' and "
                             'only alpha, beta, warmup_epochs, warmup_iters.')
        self.scales, self.temperature, self.beta = scales, temperature, beta
        self.base, self.split, self.loss_weight = base, split, loss_weight
        self.dkd = (DKDLoss(temperature=temperature, **(dkd or {}))
                    if base == 'dkd' else None)

    def local_logits(self, feat: Tensor, classifier: Callable) -> Tensor:
        """(N, C, H, W) map -> (N, R, K) local logits (fp16 / bf16 cast to
        float32)."""
        if feat.dim() != 4:
            raise ValueError('SDDLoss: feature maps must be (N, C, H, W), '
                             f'got shape {tuple(feat.shape)}.')
        logits = classifier(local_features(feat, self.scales))
        half = logits.dtype in (torch.float16, torch.bfloat16)
        return logits.float() if half else logits

    def forward(self, student_feat: Tensor, teacher_feat: Tensor,
                labels: Tensor, student_classifier: Callable,
                teacher_classifier: Callable) -> Tensor:
        zs = self.local_logits(student_feat, student_classifier)
        with torch.no_grad():
            zt = self.local_logits(teacher_feat.detach(), teacher_classifier)
        if self.dkd is None:
            return self.loss_weight * sdd_loss(
                zs, zt, labels, self.temperature, self.beta, 'kd', self.split)
        loss = sdd_loss(zs, zt, labels, self.temperature, self.beta, 'dkd',
                        self.split, self.dkd.alpha, self.dkd.beta)
        return self.loss_weight * self.dkd.warmup_factor() * loss
