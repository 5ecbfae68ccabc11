"""PKD: Cao, Zhang, Gao, Cheng, Cheng, Cheng. PKD: General Distillation
Framework for Object Detectors via Pearson Correlation Coefficient, NeurIPS
2022 (arXiv 2207.02039). Reference code followed: mmrazor
(https://github.com/open-mmlab/mmrazor, ``mmrazor/models/losses/pkd_loss.py``
and ``configs/distill/mmdet/pkd``), the authors' release."""
from typing import Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmdet.registry import MODELS
from torch import Tensor

from ...losses.utils import float_maps

Feats = Union[Tensor, Sequence[Tensor]]


def pkd_norm(feat: Tensor, eps: float = 1e-6) -> Tensor:
    """Per channel, ``(x - mean) / (std + eps)`` with the mean and the
    unbiased std (divisor ``M - 1``) over the ``M = N*H*W`` values of the
    channel in the whole batch, as mmrazor's ``PKDLoss.norm``.

    A constant channel (std 0, also ``M = 1``) maps to 0 with finite
    gradients (mmrazor gives NaN gradients there, and a NaN map for M = 1).
    """
    n, c, h, w = feat.shape
    flat = feat.transpose(0, 1).reshape(c, -1)
    centred = flat - flat.mean(1, keepdim=True)
    var = centred.pow(2).sum(1, keepdim=True) / max(flat.size(1) - 1, 1)
    # sqrt has an infinite slope at 0: take the root where var > 0 only
    tiny = torch.finfo(var.dtype).tiny
    std = torch.where(var > 0, var.clamp_min(tiny).sqrt(),
                      torch.zeros_like(var))
    return (centred / (std + eps)).view(c, n, h, w).transpose(0, 1)


def _same_size(fs: Tensor, ft: Tensor, resize_stu: bool
               ) -> Tuple[Tensor, Tensor]:
    """Bilinear resize (align_corners=False) of the student map to the
    teacher's size (``resize_stu``) or of the teacher map to the student's."""
    if fs.shape[2:] == ft.shape[2:]:
        return fs, ft
    if resize_stu:
        return F.interpolate(fs, ft.shape[2:], mode='bilinear',
                             align_corners=False), ft
    return fs, F.interpolate(ft, fs.shape[2:], mode='bilinear',
                             align_corners=False)


def pkd_loss(student_feats: Sequence[Tensor],
             teacher_feats: Sequence[Tensor], resize_stu: bool = True,
             eps: float = 1e-6) -> Tensor:
    """``sum_l mean_{n,c,h,w} (norm(fs_l) - norm(ft_l))^2 / 2`` over the
    levels ``l`` (:func:`pkd_norm`); the teacher maps are detached.

    Per channel this is ``(1 - 1/M) * (1 - r_c)`` (``eps`` aside), ``r_c``
    the Pearson correlation of the two maps' ``M = N*H*W`` values, so a
    level's term is ``(1 - 1/M) * (1 - mean_c r_c)``.
    """
    total = 0.
    for fs, ft in zip(student_feats, teacher_feats):
        fs, ft = _same_size(fs, ft.detach(), resize_stu)
        diff = pkd_norm(fs, eps) - pkd_norm(ft, eps)
        total = total + diff.pow(2).mean() / 2
    return total


@MODELS.register_module()
class PKDLoss(nn.Module):
    """PKD feature imitation: ``loss_weight * pkd_loss(fs, ft)``.

    Formula: ``loss_weight * sum_l MSE(norm(fs_l), norm(ft_l)) / 2`` with
    ``norm`` the per-channel standardisation of :func:`pkd_norm`; this is
    ``1 - r`` per channel (Pearson correlation, up to the factor
    ``1 - 1/M`` of the unbiased std), so the student is free in each
    channel's magnitude and offset. Call with tuples of FPN levels
    ``(N, C, H_l, W_l)`` (or one map each); the student and the teacher
    must have the same number of levels and of channels. No learned part.

    Paper vs. reference code (we follow mmrazor, the authors' code):

    - the statistics of a channel are over the batch and the positions
      ``(N, H, W)``, with the unbiased std plus 1e-6 (mmrazor's ``norm``),
      not over each image's ``H*W`` alone.
    - there is no connector: PKD pairs FPN channels one to one (all mmdet
      FPNs have 256), so a channel mismatch raises a ValueError.
    - maps of different size: the student is resized bilinearly to the
      teacher's (``resize_stu=True``), else the teacher to the student's.
      mmrazor compares the heights only; we compare H and W (the same
      result whenever mmrazor does not fail its shape assertion).
    - the module default is mmrazor's ``loss_weight=1``; mmrazor's COCO
      configs distil the first four of the five FPN levels (not the last) with
      ``loss_weight=6`` (Faster R-CNN R101 -> R50, Mask R-CNN Swin ->
      RetinaNet R50) and ``10`` (RetinaNet X101, FCOS X101 or RepPoints
      X101 -> R50 students); pass those levels and weights to reproduce.

    Half-precision maps are computed in float32.

    Args:
        loss_weight: weight of the loss. Defaults to 1 (mmrazor).
        resize_stu: resize the student map (else the teacher's) when the
            sizes differ. Defaults to True (mmrazor).
    """

    def __init__(self, loss_weight: float = 1.0, resize_stu: bool = True):
        super().__init__()
        if loss_weight < 0:
            raise ValueError(f'PKDLoss: loss_weight must be >= 0, got '
                             f'{loss_weight}.')
        self.loss_weight = loss_weight
        self.resize_stu = resize_stu

    def forward(self, student_feats: Feats, teacher_feats: Feats) -> Tensor:
        s, t = float_maps(student_feats), float_maps(teacher_feats)
        if len(s) != len(t) or not s:
            raise ValueError(f'PKDLoss: got {len(s)} student and {len(t)} '
                             'teacher levels; they must pair one to one (at '
                             'least one).')
        for i, (fs, ft) in enumerate(zip(s, t)):
            if fs.dim() != 4 or ft.dim() != 4 or fs.size(0) != ft.size(0):
                raise ValueError(
                    f'PKDLoss: level {i} maps must be (N, C, H, W) with the '
                    f'same N, got {tuple(fs.shape)} and {tuple(ft.shape)}.')
            if fs.size(1) != ft.size(1):
                raise ValueError(
                    f'PKDLoss: level {i} student has {fs.size(1)} channels, '
                    f'the teacher {ft.size(1)}; PKD pairs channels one to '
                    'one and has no connector (as mmrazor).')
        return self.loss_weight * pkd_loss(s, t, self.resize_stu)
