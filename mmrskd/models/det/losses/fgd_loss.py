"""FGD: Yang, Li, Jiang, Gong, Yuan, Zhao, Yuan. Focal and Global Knowledge
Distillation for Detectors, CVPR 2022 (arXiv 2111.11837). Official code:
https://github.com/yzd-v/FGD (``mmdet/distillation/losses/fgd.py``)."""
from typing import Sequence, Tuple

import torch.nn as nn
import torch.nn.functional as F
from mmdet.registry import MODELS
from torch import Tensor

from .fgd_context import GlobalContext
from .fgd_masks import fgd_masks, image_shapes


def fgd_attention(feat: Tensor, temp: float) -> Tuple[Tensor, Tensor]:
    """``A^S = HW softmax_hw(mean_c |F| / T)`` (N, H, W) and ``A^C = C
    softmax_c(mean_hw |F| / T)`` (N, C)."""
    n, c, h, w = feat.shape
    value = feat.abs()
    spatial = h * w * F.softmax(value.mean(1).flatten(1) / temp, dim=1)
    channel = c * F.softmax(value.mean((2, 3)) / temp, dim=1)
    return spatial.view(n, h, w), channel


def fgd_focal_terms(fs: Tensor, ft: Tensor, fg: Tensor, bg: Tensor,
                    temp: float = 0.5) -> Tuple[Tensor, Tensor, Tensor]:
    """``(L_fg, L_bg, L_at)`` of one level, each a sum divided by N:
    ``L_fg = sum M S A^S_t A^C_t (ft - fs)^2``, ``L_bg`` the same with the
    background map, ``L_at = sum |A^C_s - A^C_t| + sum |A^S_s - A^S_t|``
    (L1). ``fs`` is the (aligned) student map; the teacher is detached."""
    ft, n = ft.detach(), fs.size(0)
    s_t, c_t = fgd_attention(ft, temp)
    s_s, c_s = fgd_attention(fs, temp)
    sq = (fs - ft).pow(2) * (s_t[:, None] * c_t[:, :, None, None])
    fg_loss = (sq * fg[:, None]).sum() / n
    bg_loss = (sq * bg[:, None]).sum() / n
    at_loss = ((c_s - c_t).abs().sum() + (s_s - s_t).abs().sum()) / n
    return fg_loss, bg_loss, at_loss


@MODELS.register_module()
class FGDLoss(nn.Module):
    """Focal and global distillation, summed over the FPN levels ``l``:
    ``alpha L_fg + beta L_bg + gamma L_at + lambda sum (R_s(fs) - R_t(ft))^2
    / N`` (:func:`fgd_focal_terms`; ``R_s``, ``R_t`` per-level
    :class:`GlobalContext` blocks; ``fs`` through a per-level 1x1 align conv
    when the channels differ). Defaults: the official RetinaNet configs
    (T = 0.5 as the paper); its FCOS config has ``temp=0.8`` and weights
    ``1.6e-3, 8e-4, 8e-4, 8e-6``, Faster R-CNN ``5e-5, 2.5e-5, 5e-5, 5e-7``.

    Official code vs paper (we follow the code): sums are divided by the
    batch size N; the student and teacher maps have separate context blocks
    (both trained by this loss; the teacher map gets no gradient); ``H_r,
    W_r`` count the cells a box covers after floor/ceil; the class default
    ``gamma_fgd`` is 0.001, the configs' 0.0005 (ours).

    Boxes: the maps cover the padded batch, so a box is scaled by ``H_l /
    H_pad`` with ``batch_input_shape`` (H_pad, W_pad), which maps it
    exactly; the official code divides by each image's unpadded
    ``img_shape`` (stretching boxes of padded images): pass the images'
    ``img_shape`` list as ``batch_input_shape`` to reproduce it. Boxes
    outside the map are clipped (the official slicing wraps negative
    indices). Maps are cast to the learned parts' dtype (float32).

    Args: ``student_channels``, ``teacher_channels`` (256, 256),
    ``num_levels`` (5), ``temp`` (T), ``alpha_fgd``, ``beta_fgd``,
    ``gamma_fgd``, ``lambda_fgd`` (alpha, beta, gamma, lambda above).
    """

    def __init__(self, student_channels: int = 256,
                 teacher_channels: int = 256, num_levels: int = 5,
                 temp: float = 0.5, alpha_fgd: float = 0.001,
                 beta_fgd: float = 0.0005, gamma_fgd: float = 0.0005,
                 lambda_fgd: float = 0.000005):
        super().__init__()
        for name, v, low in (('student_channels', student_channels, 1),
                             ('teacher_channels', teacher_channels, 2),
                             ('num_levels', num_levels, 1)):
            if not isinstance(v, int) or isinstance(v, bool) or v < low:
                raise ValueError(f'FGDLoss: {name} must be an integer >= '
                                 f'{low}, got {v!r}.')
        self.weights = (alpha_fgd, beta_fgd, gamma_fgd, lambda_fgd)
        if temp <= 0 or min(self.weights) < 0:
            raise ValueError(f'FGDLoss: temp must be > 0 and the weights >= '
                             f'0, got temp={temp}, (alpha, beta, gamma, '
                             f'lambda)_fgd={self.weights}.')
        self.channels, self.num_levels, self.temp = (
            student_channels, teacher_channels), num_levels, temp
        levels = range(num_levels)
        self.align = nn.ModuleList(
            nn.Conv2d(student_channels, teacher_channels, 1) for _ in levels
        ) if student_channels != teacher_channels else None
        self.context_s = nn.ModuleList(
            GlobalContext(teacher_channels) for _ in levels)
        self.context_t = nn.ModuleList(
            GlobalContext(teacher_channels) for _ in levels)

    def forward(self, student_feats: Sequence[Tensor],
                teacher_feats: Sequence[Tensor], gt_bboxes: Sequence[Tensor],
                batch_input_shape) -> Tensor:
        n = student_feats[0].size(0) if len(student_feats) else 0
        if not len(student_feats) == len(teacher_feats) == self.num_levels \
                or len(gt_bboxes) != n:
            raise ValueError(
                f'FGDLoss: expected {self.num_levels} student and teacher '
                f'levels and one gt_bboxes entry per image, got '
                f'{len(student_feats)}, {len(teacher_feats)} and '
                f'{len(gt_bboxes)} for {n} images.')
        shapes = image_shapes(batch_input_shape, n)
        boxes = [getattr(b, 'tensor', b) for b in gt_bboxes]
        alpha, beta, gamma, lam = self.weights
        total = 0.
        for lvl, (fs, ft) in enumerate(zip(student_feats, teacher_feats)):
            if fs.dim() != 4 or ft.shape != (n, self.channels[1],
                                             *fs.shape[2:]) or \
                    fs.shape[:2] != (n, self.channels[0]):
                raise ValueError(
                    f'FGDLoss: level {lvl}: student (N, {self.channels[0]}, '
                    f'H, W) and teacher (N, {self.channels[1]}, H, W) maps '
                    f'expected, got {tuple(fs.shape)}, {tuple(ft.shape)}.')
            dtype = self.context_t[lvl].conv_mask.weight.dtype
            ft, fs = ft.detach().to(dtype), fs.to(dtype)
            if self.align is not None:
                fs = self.align[lvl](fs).to(dtype)
            fg, bg = fgd_masks(boxes, shapes, ft)
            fg_l, bg_l, at_l = fgd_focal_terms(fs, ft, fg, bg, self.temp)
            rel = (self.context_s[lvl](fs) - self.context_t[lvl](ft)).pow(2)
            total = total + alpha * fg_l + beta * bg_l + gamma * at_l + \
                lam * rel.sum() / n
        return total
