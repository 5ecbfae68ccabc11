"""Attention-based fusion (ABF) and the review chain of ReviewKD: Chen, Liu,
Zhao, Jia. Distilling Knowledge via Knowledge Review, CVPR 2021 (arXiv
2104.09044). Official code: https://github.com/dvlab-research/ReviewKD
(also mdistiller's ``ReviewKD.py``). Used by
:class:`mmrskd.models.losses.reviewkd_loss.ReviewKDLoss`."""
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor


class ABF(nn.Module):
    """One attention-based fusion block.

    ``x = BN(conv1x1(student))`` (``mid_channels``); with ``fuse``, the
    residual ``r`` of the deeper level is resized (nearest) to ``x``'s size,
    ``a = sigmoid(conv1x1([x, r]) + b)`` gives two (N, 1, H, W) maps and
    ``x = x * a[:, 0] + r * a[:, 1]``. ``x`` is resized (nearest) to the
    teacher's size when it differs, and the block returns
    ``(BN(conv3x3(x)), x)``: the map compared with the teacher
    (``out_channels``) and the residual handed to the next, shallower block.
    """

    def __init__(self, in_channels: int, mid_channels: int,
                 out_channels: int, fuse: bool):
        super().__init__()
        self.conv1 = nn.Sequential(
            nn.Conv2d(in_channels, mid_channels, 1, bias=False),
            nn.BatchNorm2d(mid_channels))
        self.conv2 = nn.Sequential(
            nn.Conv2d(mid_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels))
        self.att_conv = nn.Sequential(
            nn.Conv2d(2 * mid_channels, 2, 1),
            nn.Sigmoid()) if fuse else None
        # the official initialisation of the two transforms
        nn.init.kaiming_uniform_(self.conv1[0].weight, a=1)
        nn.init.kaiming_uniform_(self.conv2[0].weight, a=1)

    def forward(self, x: Tensor, residual: Optional[Tensor] = None,
                out_size: Optional[Sequence[int]] = None
                ) -> Tuple[Tensor, Tensor]:
        x = self.conv1(x)
        if self.att_conv is not None:
            if residual is None:
                raise ValueError('ABF: a fusing block needs the residual of '
                                 'the deeper level.')
            residual = F.interpolate(residual, size=x.shape[-2:],
                                     mode='nearest')
            att = self.att_conv(torch.cat([x, residual], dim=1))
            x = x * att[:, 0:1] + residual * att[:, 1:2]
        if out_size is not None and tuple(x.shape[-2:]) != tuple(out_size):
            x = F.interpolate(x, size=tuple(out_size), mode='nearest')
        return self.conv2(x), x


class ReviewFusion(nn.Module):
    """The review chain: one :class:`ABF` per level, run deep to shallow.

    The deepest block transforms its student map alone; every shallower
    block fuses its map with the residual of the block below it.
    ``forward(student_feats, out_sizes)`` takes the student maps shallow to
    deep and the teacher's (H, W) per level, and returns the fused maps
    shallow to deep, with the teacher's channels and sizes. Student maps
    are cast to the blocks' parameter dtype (fp16/bf16 AMP features into
    fp32 blocks; autocast still picks the compute dtype).
    """

    def __init__(self, student_channels: Sequence[int],
                 teacher_channels: Sequence[int], mid_channels: int):
        super().__init__()
        self.student_channels = tuple(student_channels)
        last = len(self.student_channels) - 1
        self.abfs = nn.ModuleList(
            ABF(s, mid_channels, t, fuse=i < last) for i, (s, t) in
            enumerate(zip(student_channels, teacher_channels)))

    def forward(self, student_feats: Sequence[Tensor],
                out_sizes: Sequence[Sequence[int]]) -> List[Tensor]:
        if len(student_feats) != len(self.abfs):
            raise ValueError(f'ReviewFusion: expected {len(self.abfs)} '
                             f'student maps, got {len(student_feats)}.')
        dtype = self.abfs[0].conv1[0].weight.dtype
        outs: List[Tensor] = [None] * len(self.abfs)  # type: ignore
        residual = None
        for i in reversed(range(len(self.abfs))):
            x = student_feats[i]
            if x.size(1) != self.student_channels[i]:
                raise ValueError(
                    f'ReviewFusion: student map {i} has {x.size(1)} '
                    f'channels, student_channels[{i}] is '
                    f'{self.student_channels[i]}.')
            outs[i], residual = self.abfs[i](x.to(dtype), residual,
                                             out_sizes[i])
        return outs


def split_feats(feats: Sequence, name: str = 'ReviewFusion'
                ) -> Tuple[List[Tensor], List[Tensor]]:
    """``(student_maps, teacher_maps)`` from ``(student_seq, teacher_seq)``
    or from 2L maps (first half student). Each item is an (N, C, H, W) map,
    or an (N, C) vector or a 1-tuple of one (a pooled neck output), returned
    as (N, C, 1, 1)."""
    if len(feats) == 2 and all(isinstance(f, (list, tuple)) for f in feats):
        student, teacher = feats
    elif feats and len(feats) % 2 == 0:
        student, teacher = feats[:len(feats) // 2], feats[len(feats) // 2:]
    else:
        raise ValueError(f'{name}: call with (student_feats, teacher_feats) '
                         f'or 2L maps, got {len(feats)} arguments.')
    if len(student) != len(teacher):
        raise ValueError(f'{name}: got {len(student)} student and '
                         f'{len(teacher)} teacher maps.')
    return _maps(student, name), _maps(teacher, name)


def _maps(feats: Sequence, name: str) -> List[Tensor]:
    out = []
    for f in feats:
        if isinstance(f, (list, tuple)):
            if len(f) != 1:
                raise ValueError(f'{name}: a tuple input must hold one '
                                 f'tensor, got {len(f)}.')
            f = f[0]
        if f.dim() == 2:
            f = f[:, :, None, None]
        if f.dim() != 4:
            raise ValueError(f'{name}: maps must be (N, C, H, W) or (N, C), '
                             f'got {tuple(f.shape)}.')
        out.append(f)
    return out
