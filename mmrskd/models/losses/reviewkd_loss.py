"""ReviewKD: Chen, Liu, Zhao, Jia. Distilling Knowledge via Knowledge Review,
CVPR 2021 (arXiv 2104.09044). Official code:
https://github.com/dvlab-research/ReviewKD (and mdistiller's
``mdistiller/distillers/ReviewKD.py``)."""
from typing import Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmpretrain.registry import MODELS
from torch import Tensor

from .reviewkd_fusion import ReviewFusion, split_feats
from .warmup import linear_warmup


def hcl_loss(student_feats: Sequence[Tensor], teacher_feats: Sequence[Tensor],
             pool_sizes: Sequence[int] = (4, 2, 1)) -> Tensor:
    """Hierarchical context loss ``sum_l HCL(F^S_l, F^T_l)``.

    ``HCL = (MSE(F^S, F^T) + sum_k w_k MSE(P_k(F^S), P_k(F^T))) /
    (1 + sum_k w_k)`` with ``P_k`` adaptive average pooling to k x k; the
    sizes ``k >= H`` are skipped, and the kept ones, in order, get weights
    1/2, 1/4, 1/8 (a 7 x 7 map: 1, .5, .25, .125 over 1.875; a 4 x 4 map:
    1, .5 (2 x 2), .25 (1 x 1) over 1.75). MSE is the element mean. Maps of
    a level must have equal shapes; the teacher is detached and both are
    compared in at least float32.
    """
    if len(student_feats) != len(teacher_feats) or not student_feats:
        raise ValueError(f'hcl_loss: needs as many student as teacher maps '
                         f'(>= 1), got {len(student_feats)} and '
                         f'{len(teacher_feats)}.')
    total = 0.
    for fs, ft in zip(student_feats, teacher_feats):
        if fs.shape != ft.shape:
            raise ValueError(f'hcl_loss: student map {tuple(fs.shape)} and '
                             f'teacher map {tuple(ft.shape)} differ.')
        dtype = torch.promote_types(fs.dtype, torch.float32)
        fs, ft = fs.to(dtype), ft.detach().to(dtype)
        loss, weight, norm = F.mse_loss(fs, ft), 1.0, 1.0
        for k in pool_sizes:
            if k >= fs.size(2):
                continue
            weight /= 2
            norm += weight
            loss = loss + weight * F.mse_loss(F.adaptive_avg_pool2d(fs, k),
                                              F.adaptive_avg_pool2d(ft, k))
        total = total + loss / norm
    return total


@MODELS.register_module()
class ReviewKDLoss(nn.Module):
    """Knowledge review: student maps fused deep to shallow by attention
    (:class:`~mmrskd.models.losses.reviewkd_fusion.ReviewFusion`), each fused
    map compared with the teacher's map of its level by :func:`hcl_loss`:
    ``loss = loss_weight * warm-up * sum_l HCL(ABF_l(F^S_l, R_{l+1}), F^T_l)``.

    Call ``loss(student_feats, teacher_feats)`` with two sequences of maps,
    shallow to deep, or ``loss(s_1, ..., s_L, t_1, ..., t_L)`` with 2L maps
    (the distiller's ``inputs=['student.backbone.layer1', ...,
    'teacher.backbone.layer4']``). A map is (N, C, H, W), or (N, C) /
    a 1-tuple of it (``'student.neck'``), taken as (N, C, 1, 1). Student and
    teacher sizes may differ per level: the fused map is resized (nearest)
    to the teacher's (H, W) before its 3 x 3 conv, as in the official code.
    The fusion blocks are trained with the student.

    Defaults: ResNet-34 -> ResNet-18 on ImageNet, weight 1, no warm-up. The
    official ImageNet code adds a fifth level, the pooled feature: use
    ``(64, 128, 256, 512, 512)`` channels with ``'student.neck'`` /
    ``'teacher.neck'`` last. CIFAR-100 preset: ``warmup_epochs=20``,
    ``loss_weight`` 5 (0.6 res56->res20, 1 res110->res32, 8 ShuffleV2).

    Differences from the paper / official code:

    - the HCL level weights (halved per kept level) and the rule that skips
      pool sizes ``k >= H`` are the official code's; the paper describes
      the pyramid pooling without, to our reading, giving these weights.
    - the official code distils pre-ReLU stage outputs (ImageNet: both
      nets; CIFAR: the teacher); mmpretrain ``layerK`` hooks give post-ReLU
      maps. Choose the hooked modules to match.
    - ``mid_channels=None`` is the official ``min(512, student_channels[-1])``
      (ResNet-18: 512); the official MobileNet preset uses 256 (mdistiller
      reads ``MAX_MID_CHANNEL`` but never uses it).
    - warm-up ``min((epoch + 1) / warmup_epochs, 1)`` with a 0-based epoch, as
      mdistiller (1-based) and mmrskd's DKDLoss; the official CIFAR script
      uses ``min(epoch / 20, 1)`` with a 0-based epoch, one epoch later
      (0 in the first). ``warmup_iters`` replaces epochs as in DKDLoss.
    - sizes are compared as (H, W); the official code compares widths only
      (square maps). The skip rule uses H, as the official code.

    Args:
        student_channels: student channels per level, shallow to deep.
        teacher_channels: teacher channels per level (the fused outputs).
        mid_channels: fusion width; None = ``min(512, student_channels[-1])``.
        loss_weight: overall weight.
        pool_sizes: HCL pyramid sizes, in order.
        warmup_epochs: linear warm-up in epochs; 0 disables it.
        warmup_iters: warm-up in iterations; when set, replaces epochs.
    """

    def __init__(self, student_channels: Sequence[int] = (64, 128, 256, 512),
                 teacher_channels: Sequence[int] = (64, 128, 256, 512),
                 mid_channels: Optional[int] = None, loss_weight: float = 1.0,
                 pool_sizes: Sequence[int] = (4, 2, 1),
                 warmup_epochs: int = 0, warmup_iters: Optional[int] = None):
        super().__init__()
        channels = tuple(student_channels) + tuple(teacher_channels)
        if (not student_channels
                or len(student_channels) != len(teacher_channels)
                or not all(isinstance(c, int) and c > 0 for c in channels)):
            raise ValueError(
                f'ReviewKDLoss: student_channels and teacher_channels must be '
                f'equally long sequences of positive ints, got '
                f'{student_channels!r} and {teacher_channels!r}.')
        if mid_channels is None:
            mid_channels = min(512, student_channels[-1])
        for name, v, low in (('mid_channels', mid_channels, 1),
                             ('warmup_epochs', warmup_epochs, 0),
                             ('warmup_iters', 0 if warmup_iters is None
                              else warmup_iters, 0)):
            if not isinstance(v, int) or v < low:
                raise ValueError(f'ReviewKDLoss: {name} must be an int >= '
                                 f'{low}, got {v!r}.')
        if not all(isinstance(k, int) and k > 0 for k in pool_sizes):
            raise ValueError(f'ReviewKDLoss: pool_sizes must be positive '
                             f'ints, got {pool_sizes!r}.')
        self.teacher_channels = tuple(teacher_channels)
        self.fusion = ReviewFusion(student_channels, teacher_channels,
                                   mid_channels)
        self.loss_weight, self.pool_sizes = loss_weight, tuple(pool_sizes)
        self.warmup_epochs, self.warmup_iters = warmup_epochs, warmup_iters

    def warmup_factor(self, epoch: Optional[int] = None,
                      iteration: Optional[int] = None) -> float:
        """Linear warm-up factor (:func:`.warmup.linear_warmup`, as DKD's)."""
        return linear_warmup('ReviewKDLoss', self.warmup_epochs,
                             self.warmup_iters, epoch, iteration)

    def forward(self, *feats) -> Tensor:
        student, teacher = split_feats(feats, 'ReviewKDLoss')
        if len(student) != len(self.teacher_channels):
            raise ValueError(
                f'ReviewKDLoss: expected {len(self.teacher_channels)} student '
                f'and teacher maps, got {len(student)} of each.')
        for i, (t, c) in enumerate(zip(teacher, self.teacher_channels)):
            if t.size(1) != c:
                raise ValueError(f'ReviewKDLoss: teacher map {i} has '
                                 f'{t.size(1)} channels, expected {c}.')
        fused = self.fusion(student, [t.shape[-2:] for t in teacher])
        loss = hcl_loss(fused, teacher, self.pool_sizes)
        return self.loss_weight * self.warmup_factor() * loss
