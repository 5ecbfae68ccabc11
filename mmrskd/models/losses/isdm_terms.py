"""The terms of ISDM (Li et al., Remote Sensing 2024, 16(20):3853), pure
functions used by :func:`~mmrskd.models.losses.isdm_loss.isdm_loss`, and
its instance scaler.

The paper's Eq. 8 (entropy regularisation of the scaled soft label) and
Eq. 9 (dynamic margin) are not public in closed form; the functions below
are mmrskd's reading of the paper's text (docs/methods.md, "ISDM").
"""
import math
from typing import Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from .utils import split_target


def instance_features(teacher_logits: Tensor, target: Tensor,
                      temperature: float) -> Tensor:
    """``u_i = [p_it, max_{j!=t} p_ij, H(p_i) / log C]`` with
    ``p = softmax_T(zt)``; shape (N, 3)."""
    log_p = F.log_softmax(teacher_logits / temperature, dim=1)
    p = log_p.exp()
    p_t = p.gather(1, target[:, None]).squeeze(1)
    p_other = p.masked_fill(F.one_hot(target, p.size(1)).bool(), -1.)
    entropy = -(p * log_p).sum(1) / math.log(p.size(1))
    return torch.stack([p_t, p_other.max(1).values, entropy], dim=1)


def scale_soft_label(teacher_logits: Tensor, target: Tensor,
                     scale: Tensor, temperature: float,
                     eps: float = 1e-6) -> Tuple[Tensor, Tensor]:
    """Scale the teacher's target probability, keep the non-target shape.

    ``q_t = clamp(s * p_t, eps, 1 - eps)``,
    ``q_j = p_j * (1 - q_t) / (1 - p_t) = (1 - q_t) * p_hat_j`` (j != t).

    Returns ``(log_q, q_t)``: the log of the scaled soft label (N, C) and
    its target probability (N,). Differentiable in ``scale``.
    """
    log_p_t, _, log_p_hat, mask = split_target(teacher_logits / temperature,
                                               target)
    q_t = (scale * log_p_t.exp()).clamp(eps, 1 - eps)
    log_q_rest = torch.log1p(-q_t)[:, None] + log_p_hat
    log_q = torch.where(mask, torch.log(q_t)[:, None], log_q_rest)
    return log_q, q_t


def entropy_regulariser(log_q: Tensor, q_t: Tensor) -> Tensor:
    """``mean_i (-log q_it - H(q_i))`` (our reading of ISDM Eq. 8).

    The -log term raises the target of a hard sample, the -H term softens
    an over-confident easy one.
    """
    entropy = -(log_q.exp() * log_q).sum(1)
    return (-torch.log(q_t) - entropy).mean()


def dynamic_margin(teacher_logits: Tensor, target: Tensor,
                   margin: float) -> Tensor:
    """``m_i = m0 * (2 c_i - 1)``, ``c_i = softmax(zt_i)_t`` at T = 1
    (our reading of ISDM Eq. 9): positive for easy, negative for hard."""
    c = F.softmax(teacher_logits.detach(), dim=1).gather(
        1, target[:, None]).squeeze(1)
    return margin * (2 * c - 1)


def subtract_margin(student_logits: Tensor, teacher_logits: Tensor,
                    target: Tensor, margin: str,
                    margin_value: float) -> Tensor:
    """``zs_i - m_i onehot(t_i)`` with the ``'dynamic'`` margin
    (:func:`dynamic_margin`) or the ``'fixed'`` one ``m_i = margin_value``."""
    if margin == 'dynamic':
        m = dynamic_margin(teacher_logits, target, margin_value)
    else:
        m = student_logits.new_full((student_logits.size(0), ),
                                    float(margin_value))
    onehot = F.one_hot(target, student_logits.size(1))
    return student_logits - m[:, None] * onehot


class InstanceScaler(nn.Module):
    """``s = 2 * sigmoid(g(u))``, ``g``: Linear(3, h) - ReLU - Linear(h, 1).

    The last layer starts at zero, so ``s = 1`` (no scaling) at the start.
    With h = 16 it has 81 parameters; it is dropped at export.
    """

    def __init__(self, hidden: int = 16):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(3, hidden), nn.ReLU(inplace=True),
                                 nn.Linear(hidden, 1))
        nn.init.zeros_(self.net[2].weight)
        nn.init.zeros_(self.net[2].bias)

    def forward(self, features: Tensor) -> Tensor:
        return 2 * torch.sigmoid(self.net(features)).squeeze(1)


def scaled_teacher_label(teacher_logits: Tensor, target: Tensor,
                         scaler: nn.Module,
                         temperature: float) -> Tuple[Tensor, Tensor]:
    """``(log_q, q_t)`` of :func:`scale_soft_label` with the scale the
    ``scaler`` gives the instance features (:func:`instance_features`)."""
    u = instance_features(teacher_logits, target, temperature)
    # the scaler keeps its own dtype (fp32 under AMP, float64 in tests)
    w = next(scaler.parameters())
    scale = scaler(u.to(w.dtype)).to(u.dtype)
    return scale_soft_label(teacher_logits, target, scale, temperature)
