"""AT: Zagoruyko, Komodakis. Paying More Attention to Attention: Improving
the Performance of Convolutional Neural Networks via Attention Transfer,
ICLR 2017 (arXiv 1612.03928). Official code:
https://github.com/szagoruyko/attention-transfer (``utils.at_loss``);
mdistiller (github.com/megvii-research/mdistiller, ``AT.py``) is the same
plus pooling of maps of different size."""
from typing import Sequence, Tuple, Union

import torch.nn as nn
import torch.nn.functional as F
from mmpretrain.registry import MODELS
from torch import Tensor

from .utils import float_maps

Feats = Union[Tensor, Sequence[Tensor]]


def attention_map(feat: Tensor, p: float = 2.0) -> Tensor:
    """``a(f) = q / ||q||_2`` with ``q = vec(mean_c |f_c|^p)``: (N, H*W).

    ``F.normalize`` keeps an all-zero map at 0 (its norm is clamped to
    1e-12)."""
    return F.normalize(feat.abs().pow(p).mean(1).flatten(1), dim=1)


def _same_size(fs: Tensor, ft: Tensor) -> Tuple[Tensor, Tensor]:
    """Adaptive average pooling of the larger map to the smaller size,
    per dimension: (min(Hs, Ht), min(Ws, Wt))."""
    size = (min(fs.size(2), ft.size(2)), min(fs.size(3), ft.size(3)))
    if fs.shape[2:] != size:
        fs = F.adaptive_avg_pool2d(fs, size)
    if ft.shape[2:] != size:
        ft = F.adaptive_avg_pool2d(ft, size)
    return fs, ft


def at_loss(student_feats: Sequence[Tensor], teacher_feats: Sequence[Tensor],
            p: float = 2.0) -> Tensor:
    """``sum_j mean_{n,k} (a(fs_j)_nk - a(ft_j)_nk)^2`` over the layers
    ``j`` (k: the spatial positions); the teacher maps are detached."""
    total = 0.
    for fs, ft in zip(student_feats, teacher_feats):
        fs, ft = _same_size(fs, ft.detach())
        diff = attention_map(fs, p) - attention_map(ft, p)
        total = total + diff.pow(2).mean()
    return total


@MODELS.register_module()
class ATLoss(nn.Module):
    """Attention transfer: ``loss_weight * at_loss(fs, ft, p)``.

    Formula: ``loss_weight * sum_j mean_{n,k} (a_s - a_t)^2`` with
    ``a = normalize(vec(mean_c |f_c|^p))`` (:func:`attention_map`) per
    sample, summed over the layers. Call with one (N, C, H, W) map per
    network, or with a tuple/list of maps (one per layer, e.g. a backbone's
    ``out_indices`` output); the student and the teacher may have different
    channels. Maps of different spatial size are average-pooled to the
    smaller size (mdistiller pools to the smaller height, square; we pool
    each dimension, the same for square maps).

    Paper vs. official code (we follow the code): the paper writes
    ``beta/2 * sum_j || a_s^j - a_t^j ||_2`` (a norm, not squared) and says
    beta = 1000 is divided by the attention-map size and the batch size;
    the official code (and mdistiller, CIFAR and ImageNet) uses
    ``1000 * sum_j mean_{n,k} (a_s - a_t)^2``: squared, no ``1/2``, the mean
    over batch and positions. The code's ``x.pow(p)`` is the paper's
    ``|x|^p`` for the default ``p = 2`` (we take ``|x|^p``, as the paper,
    for any p). Half-precision maps are computed in float32.

    Args:
        p: exponent of the attention map. Defaults to 2.
        loss_weight: beta. Defaults to 1000 (paper, official code,
            mdistiller).
    """

    def __init__(self, p: float = 2.0, loss_weight: float = 1000.0):
        super().__init__()
        if p <= 0:
            raise ValueError(f'ATLoss: p must be > 0, got {p}.')
        self.p = p
        self.loss_weight = loss_weight

    def forward(self, student_feat: Feats, teacher_feat: Feats) -> Tensor:
        s_feats, t_feats = float_maps(student_feat), float_maps(teacher_feat)
        if len(s_feats) != len(t_feats) or not s_feats:
            raise ValueError(f'ATLoss: got {len(s_feats)} student and '
                             f'{len(t_feats)} teacher maps; they must pair '
                             'one to one (at least one).')
        for fs, ft in zip(s_feats, t_feats):
            if fs.dim() != 4 or ft.dim() != 4 or fs.size(0) != ft.size(0):
                raise ValueError(
                    'ATLoss: maps must be (N, C, H, W) with the same N, got '
                    f'{tuple(fs.shape)} and {tuple(ft.shape)}.')
        return self.loss_weight * at_loss(s_feats, t_feats, self.p)
