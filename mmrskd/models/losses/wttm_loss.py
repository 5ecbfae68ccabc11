"""TTM / WTTM: Zheng, Yang. Knowledge Distillation Based on Transformed
Teacher Matching, ICLR 2024 (arXiv 2402.11148).
Official code: https://github.com/zkxufo/TTM (``distiller_zoo/ttm.py``,
``distiller_zoo/wttm.py``).

TTM drops the temperature on the student side: the student's plain softmax
``q = softmax(zs)`` matches the power-transformed teacher
``p_t^gamma / U_gamma(p_t)`` with ``U_gamma(p) = sum_c p_c^gamma`` and
``gamma = 1 / T`` (equal to ``softmax(zt / T)``). WTTM weights each sample by
``U_gamma(p_t)``, which is large for a smooth teacher (up to ``C^(1-gamma)``
for a uniform one) and 1 for a one-hot one (``gamma < 1``).

Notes against the official code (followed here unless said otherwise):

- The sample weight is the raw power sum ``U_gamma(p_t)``: it is NOT
  normalised over the batch, and the batch reduction is the mean over the N
  samples (``torch.mean(norm * KL)``), as in the paper's per-sample objective.
- No ``T^2`` factor (unlike KD): the paper's and the code's loss is the
  plain KL; its scale is set by the coefficient beta (``loss_weight``).
- The code transforms in the probability domain (``softmax(zt) ** l`` and
  renormalises); this module works in the log domain
  (``log_softmax(gamma * log_softmax(zt))`` and ``log U = logsumexp(...)``),
  identical in exact arithmetic and finite for logits of any size.
- The code's argument is the exponent ``l`` (``--ttm_l``, the paper's
  gamma); the paper's tables report ``T = 1 / gamma``. Both are accepted.
- The cross-entropy term of the paper's objective is not part of this loss
  (the distiller adds the student's own classification loss).
- Defaults gamma 0.2 (T = 5), beta 4: the official README's WTTM command
  (CIFAR-100, vgg13 -> vgg8, ``--ttm_l 0.2 -a 4``, WTTM added to CRD). The
  per-pair values of the paper's appendix A.4 (CIFAR-100 and ImageNet) were
  not available to us; set ``gamma``/``loss_weight`` per experiment.
"""
import math
from typing import Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmpretrain.registry import MODELS
from torch import Tensor

from .utils import kl_rows


def transformed_teacher(teacher_logits: Tensor, gamma: float
                        ) -> Tuple[Tensor, Tensor]:
    """``(log p_t^gamma / U, log U)`` with ``p_t = softmax(zt)``, shapes
    (N, C) and (N,). The teacher logits are detached."""
    scaled = gamma * F.log_softmax(teacher_logits.detach(), dim=1)
    return F.log_softmax(scaled, dim=1), torch.logsumexp(scaled, dim=1)


def wttm_loss(student_logits: Tensor, teacher_logits: Tensor,
              gamma: float = 0.2, weighted: bool = True) -> Tensor:
    """``mean_i w_i * KL(p_t,i^gamma / U_gamma(p_t,i) || softmax(zs_i))``.

    ``w_i = U_gamma(p_t,i) = sum_c p_t,ic^gamma`` for WTTM
    (``weighted=True``) and ``w_i = 1`` for TTM. Not multiplied by beta.
    """
    if student_logits.shape != teacher_logits.shape or \
            student_logits.dim() != 2:
        raise ValueError(
            f'wttm_loss: student and teacher logits must both be (N, C), got '
            f'{tuple(student_logits.shape)} and '
            f'{tuple(teacher_logits.shape)}.')
    log_target, log_u = transformed_teacher(teacher_logits, gamma)
    kl = kl_rows(log_target, F.log_softmax(student_logits, dim=1))
    if weighted:
        kl = log_u.exp() * kl
    return kl.mean()


@MODELS.register_module()
class WTTMLoss(nn.Module):
    """(Weighted) transformed teacher matching:
    ``loss_weight * wttm_loss(zs, zt, gamma, weighted)``.

    Args:
        gamma: exponent of the power transform (``1 / T``), > 0. Defaults
            to 0.2 when neither ``gamma`` nor ``temperature`` is given.
        temperature: the teacher temperature ``T``; an alternative to
            ``gamma`` (``gamma = 1 / T``). Give at most one of the two.
        weighted: True for WTTM (per-sample weight ``U_gamma(p_t)``), False
            for plain TTM.
        loss_weight: the paper's coefficient beta. Defaults to 4.
    """

    def __init__(self, gamma: Optional[float] = None,
                 temperature: Optional[float] = None, weighted: bool = True,
                 loss_weight: float = 4.0):
        super().__init__()
        if gamma is not None and temperature is not None:
            raise ValueError(f'WTTMLoss: give gamma ({gamma}) or temperature '
                             f'({temperature}), not both (gamma = 1/T).')
        if temperature is not None:
            if not _positive(temperature):
                raise ValueError(f'WTTMLoss: temperature must be a finite '
                                 f'number > 0, got {temperature!r}.')
            gamma = 1.0 / temperature
        elif gamma is None:
            gamma = 0.2
        if not _positive(gamma):
            raise ValueError(f'WTTMLoss: gamma must be a finite number > 0, '
                             f'got {gamma!r}.')
        if not isinstance(weighted, bool):
            raise ValueError(f'WTTMLoss: weighted must be True (WTTM) or '
                             f'False (TTM), got {weighted!r}.')
        if not (isinstance(loss_weight, (int, float))
                and math.isfinite(loss_weight) and loss_weight >= 0):
            raise ValueError(f'WTTMLoss: loss_weight must be a finite number '
                             f'>= 0, got {loss_weight!r}.')
        self.gamma = float(gamma)
        self.weighted = weighted
        self.loss_weight = loss_weight

    def forward(self, student_logits: Tensor, teacher_logits: Tensor,
                labels: Optional[Tensor] = None) -> Tensor:
        """``labels`` (hard or soft) are accepted for a uniform signature
        and unused."""
        return self.loss_weight * wttm_loss(student_logits, teacher_logits,
                                            self.gamma, self.weighted)


def _positive(value) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value) and value > 0)
