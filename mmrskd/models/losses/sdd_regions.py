"""SDD's multi-scale regions (Wei, Luo, Luo, CVPR 2024, arXiv 2403.13512;
official code https://github.com/shicaiwei123/SDD-CVPR2024): the pooled
local features and the weights of consistent and complementary regions.
Used by :class:`mmrskd.models.losses.sdd_loss.SDDLoss`."""
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor


def local_features(feat: Tensor, scales: Sequence[int]) -> Tensor:
    """(N, C, H, W) -> (N, R, C), ``R = sum_m m^2``: the map is adaptive-avg
    pooled to the finest ``max(scales)`` grid and every scale is pooled from
    that grid (official SPP), row-major regions, scale order kept."""
    grid = F.adaptive_avg_pool2d(feat, max(scales))
    parts = [F.adaptive_avg_pool2d(grid, m).flatten(2) for m in scales]
    return torch.cat(parts, dim=2).transpose(1, 2)


def region_weights(teacher_local: Tensor, target: Tensor, beta: float,
                   split: str = 'label') -> Tensor:
    """(N, R) weights: 1 for consistent regions, ``beta`` for complementary
    ones; region 0 is the global one. ``split='label'`` (official):
    complementary iff ``[argmax zt_k == y] != [argmax zt_0 == y]``;
    ``'class'``: iff ``argmax zt_k != argmax zt_0``."""
    pred = teacher_local.argmax(dim=2)
    if split == 'label':
        right = pred == target[:, None]
        comp = right != right[:, :1]
    else:
        comp = pred != pred[:, :1]
    return 1.0 + (beta - 1.0) * comp.to(teacher_local.dtype)
