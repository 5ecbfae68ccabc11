"""RKD: Park, Kim, Lu, Cho. Relational Knowledge Distillation, CVPR 2019
(arXiv 1904.05068). Official code: https://github.com/lenscloth/RKD
(``metric/loss.py``: ``RkdDistance``, ``RKdAngle``); mdistiller
(github.com/megvii-research/mdistiller, ``RKD.py``) applies it to the
globally pooled features."""
from typing import Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmpretrain.registry import MODELS
from torch import Tensor

Embed = Union[Tensor, Sequence[Tensor]]


def _differences(e: Tensor) -> Tensor:
    """``diff[i, j] = e_j - e_i``: (N, N, D)."""
    return e.unsqueeze(0) - e.unsqueeze(1)


def distance_potential(diff: Tensor, eps: float = 1e-12) -> Tensor:
    """``psi_D(i, j) = ||e_i - e_j|| / mu``, ``mu`` the mean over the
    ``i != j`` pairs; 0 on the diagonal. The squared distance is clamped
    to ``eps`` before the root (finite gradients for coincident points)."""
    n = diff.size(0)
    d = diff.pow(2).sum(2).clamp_min(eps).sqrt()
    d = d * (1 - torch.eye(n, dtype=d.dtype, device=d.device))
    return d / (d.sum() / (n * (n - 1)))


def angle_potential(diff: Tensor) -> Tensor:
    """``psi_A(i, j, k) = <u_ij, u_ik>``, ``u_ij`` the unit vector from
    ``e_i`` to ``e_j`` (0 when they coincide): the cosine of the angle at
    vertex ``e_i``; (N, N, N), all index triples."""
    unit = F.normalize(diff, p=2, dim=2)
    return torch.bmm(unit, unit.transpose(1, 2))


def rkd_loss(student: Tensor, teacher: Tensor, distance_weight: float = 25.0,
             angle_weight: float = 50.0) -> Tuple[Tensor, Tensor]:
    """Weighted ``(distance, angle)`` terms for (N, D) embeddings:
    ``mean_{i,j} huber(psi_D^s - psi_D^t)`` and
    ``mean_{i,j,k} huber(psi_A^s - psi_A^t)`` (Huber = smooth-L1, delta 1);
    the teacher is detached. Needs N >= 2."""
    with torch.no_grad():
        t_diff = _differences(teacher.detach())
        t_dist, t_angle = distance_potential(t_diff), angle_potential(t_diff)
    s_diff = _differences(student)
    loss_d = F.smooth_l1_loss(distance_potential(s_diff), t_dist)
    loss_a = F.smooth_l1_loss(angle_potential(s_diff), t_angle)
    return distance_weight * loss_d, angle_weight * loss_a


@MODELS.register_module()
class RKDLoss(nn.Module):
    """Relational KD: ``loss_weight * (w_d * L_dist + w_a * L_angle)``.

    ``L_dist = mean_{i,j} huber(||s_i - s_j|| / mu_s - ||t_i - t_j|| / mu_t)``
    with ``mu`` the mean distance over the pairs ``i != j``; ``L_angle =
    mean_{i,j,k} huber(cos<s_j - s_i, s_k - s_i> - cos<t_j - t_i, t_k -
    t_i>)``; Huber with delta 1 (``F.smooth_l1_loss``). The two embeddings
    may have different widths D.

    Inputs: (N, D) embeddings, or (N, C, H, W) maps, which are globally
    average-pooled to (N, C) as in mdistiller (``pool=False`` flattens them
    to (N, C*H*W) instead, as the official ``view`` on a map would). A
    tuple/list (e.g. mmpretrain's ``GlobalAveragePooling`` neck output)
    gives its last element. A batch of one sample has no relation: loss 0.
    Half-precision inputs are computed in float32.

    Paper vs. official code (we follow the code): the paper sums the Huber
    terms over pairs and over distinct triplets; the code takes the mean
    over all N^2 pairs and N^3 triples, the degenerate ones included (a
    repeated index), on which student and teacher agree exactly (psi 0, or
    cosine 0 or 1): the terms are the paper's sums divided by N^2 and N^3.
    Distances come from explicit differences, not the code's Gram
    expansion (same values, no cancellation); memory is O(N^2 D + N^3), as
    in the code. Weights 25 (distance) and 50 (angle) are the paper's and
    mdistiller's for classification; the official metric-learning runs use
    1 and 2.

    Args:
        distance_weight: weight of the distance term. Defaults to 25.
        angle_weight: weight of the angle term. Defaults to 50.
        pool: average-pool (N, C, H, W) maps; else flatten. Defaults to
            True.
        loss_weight: overall weight. Defaults to 1.
    """

    def __init__(self, distance_weight: float = 25.0,
                 angle_weight: float = 50.0, pool: bool = True,
                 loss_weight: float = 1.0):
        super().__init__()
        for name, value in (('distance_weight', distance_weight),
                            ('angle_weight', angle_weight)):
            if value < 0:
                raise ValueError(f'RKDLoss: {name} must be >= 0, got '
                                 f'{value}.')
        self.distance_weight = distance_weight
        self.angle_weight = angle_weight
        self.pool = pool
        self.loss_weight = loss_weight

    def embed(self, x: Embed) -> Tensor:
        """(N, D) embedding of a tensor or of the last of a sequence."""
        if not isinstance(x, Tensor):
            x = x[-1]
        if x.dtype in (torch.float16, torch.bfloat16):
            x = x.float()
        if x.dim() > 2 and self.pool:
            x = x.flatten(2).mean(2)
        if x.dim() < 2:
            raise ValueError(f'RKDLoss: inputs must be (N, D) or (N, C, H, '
                             f'W), got shape {tuple(x.shape)}.')
        return x.flatten(1)

    def forward(self, student_embed: Embed, teacher_embed: Embed) -> Tensor:
        s, t = self.embed(student_embed), self.embed(teacher_embed)
        if s.size(0) != t.size(0):
            raise ValueError(f'RKDLoss: batch sizes differ, {s.size(0)} '
                             f'(student) and {t.size(0)} (teacher).')
        if s.size(0) < 2:
            return s.sum() * 0.
        loss_d, loss_a = rkd_loss(s, t.to(s.dtype), self.distance_weight,
                                  self.angle_weight)
        return self.loss_weight * (loss_d + loss_a)
