"""ISDM: Li, Teng, Ding, Lan. Instance-level Scaling and Dynamic Margin-
alignment knowledge distillation for remote-sensing scene classification,
Remote Sensing 2024, 16(20):3853.

The paper's Eq. 8 (entropy regularisation of the scaled soft label) and
Eq. 9 (dynamic margin) are not public in closed form; the functions below
are mmrskd's reading of the paper's text (docs/methods.md, "ISDM").
Optional logit standardization: Sun et al., CVPR 2024 (arXiv 2403.01427),
see :class:`ISDMLoss`.
"""
import math
from typing import Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmpretrain.registry import MODELS
from torch import Tensor

from .utils import hard_labels, kl_rows, split_target, standardize


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


def isdm_loss(student_logits: Tensor, teacher_logits: Tensor,
              labels: Tensor, scaler: nn.Module = None,
              temperature: float = 4.0, margin: str = 'dynamic',
              margin_value: float = 5.0, use_is: bool = True,
              use_dm: bool = True, kd_weight: float = 4.0,
              ent_weight: float = 0.1,
              scaler_grad: str = 'regulariser',
              logit_standardize: bool = False) -> Tensor:
    """ISDM distillation terms (the student's CE comes from its head):

    ``w_kd * T^2 * mean_i KL(q_i || softmax_T(zs_i - m_i onehot(t)))
    + w_ent * L_ent``, with ``q`` the instance-scaled teacher label (``p``
    when ``use_is`` is off, and then no ``L_ent``) and ``m_i`` the dynamic
    (or fixed) margin (0 when ``use_dm`` is off).

    ``scaler_grad`` says which terms train the scaler: ``'regulariser'``
    (default) only ``L_ent``, the KL term seeing ``q`` as a fixed target;
    ``'all'`` both. With ``'all'`` the scaler can lower the KL by moving
    ``q`` toward the student instead of the student toward ``q``; measured
    on the demo scenes this collapses ``q_t`` and the student to chance
    (docs/methods.md).

    ``logit_standardize`` Z-scores both raw logits (:func:`standardize`)
    first, so the scaler's features, the scaled label, the margin's
    confidence and the margin itself all work on the Z-scores.
    """
    t = temperature
    teacher_logits = teacher_logits.detach()
    if logit_standardize:
        student_logits = standardize(student_logits)
        teacher_logits = standardize(teacher_logits)
    target = hard_labels(labels, student_logits.size(1))
    if use_is:
        u = instance_features(teacher_logits, target, t)
        # the scaler keeps its own dtype (fp32 under AMP, float64 in tests)
        w = next(scaler.parameters())
        scale = scaler(u.to(w.dtype)).to(u.dtype)
        log_q, q_t = scale_soft_label(teacher_logits, target, scale, t)
        log_q_reg = log_q
        if scaler_grad == 'regulariser':
            log_q = log_q.detach()
    else:
        log_q = F.log_softmax(teacher_logits / t, dim=1)
    if use_dm:
        if margin == 'dynamic':
            m = dynamic_margin(teacher_logits, target, margin_value)
        else:
            m = student_logits.new_full((student_logits.size(0), ),
                                        float(margin_value))
        onehot = F.one_hot(target, student_logits.size(1))
        student_logits = student_logits - m[:, None] * onehot
    log_ps = F.log_softmax(student_logits / t, dim=1)
    loss = kd_weight * t * t * kl_rows(log_q, log_ps).mean()
    if use_is and ent_weight:
        loss = loss + ent_weight * entropy_regulariser(log_q_reg, q_t)
    return loss


@MODELS.register_module()
class ISDMLoss(nn.Module):
    """Instance-level scaling + dynamic margin alignment (ISDM).

    Owns the instance scaler (a trainable 81-parameter perceptron saved in
    checkpoints for resuming and dropped at export). With
    ``use_is=False, use_dm=False`` it equals ``loss_weight * KDLoss``.

    ``logit_standardize=True`` (Sun et al., CVPR 2024, arXiv 2403.01427,
    https://github.com/sunshangquan/logit-standardization-KD) Z-scores the
    raw student and teacher logits, ``(z - mean(z)) / (std(z) + 1e-7)``,
    before everything else: instance features, scaled label, dynamic margin
    and the temperature. The whole loss is then unchanged by a per-sample
    shift and positive scale of either logit set, and equals
    ``loss_weight * KDLoss(logit_standardize=True)`` without IS and DM.
    ``margin_value`` is then in units of the logit's standard deviation
    (a Z-score is at most ``(C - 1) / sqrt(C)``). Neither paper gives a
    setting for ISDM with it; LS's KD recipe is T = 2, KL weight 9.

    Args:
        temperature: T. Defaults to 4.
        loss_weight: ``w_kd``, weight of the KL term. Defaults to 4.
        ent_weight: ``w_ent``, weight of the entropy regulariser. Default 0.1.
        use_is: instance-level scaling on/off (ablation "noIS").
        use_dm: margin alignment on/off (ablation "noDM").
        margin: ``'dynamic'`` (``m0 * (2 c - 1)``) or ``'fixed'`` (ablation
            "FM", constant ``margin_value``).
        margin_value: ``m0`` (dynamic) or the fixed margin. Defaults to 5.
        scaler_hidden: hidden width of the scaler. Defaults to 16.
        scaler_grad: ``'regulariser'`` (default): the scaler learns from the
            entropy regulariser only and the KL term treats the scaled label
            as a fixed target; ``'all'``: the KL term trains the scaler too
            (the literal reading of the formula, which collapses, see
            :func:`isdm_loss`).
        logit_standardize: Z-score both logits first. Defaults to False.
    """

    def __init__(self, temperature: float = 4.0, loss_weight: float = 4.0,
                 ent_weight: float = 0.1, use_is: bool = True,
                 use_dm: bool = True, margin: str = 'dynamic',
                 margin_value: float = 5.0, scaler_hidden: int = 16,
                 scaler_grad: str = 'regulariser',
                 logit_standardize: bool = False):
        super().__init__()
        if margin not in ('dynamic', 'fixed'):
            raise ValueError(f"ISDMLoss: margin must be 'dynamic' or "
                             f"'fixed', got {margin!r}.")
        if temperature <= 0:
            raise ValueError(f'ISDMLoss: temperature must be > 0, got '
                             f'{temperature}.')
        if scaler_grad not in ('regulariser', 'all'):
            raise ValueError(f"ISDMLoss: scaler_grad must be 'regulariser' or "
                             f"'all', got {scaler_grad!r}.")
        self.scaler_grad = scaler_grad
        self.logit_standardize = logit_standardize
        self.temperature = temperature
        self.loss_weight = loss_weight
        self.ent_weight = ent_weight
        self.use_is = use_is
        self.use_dm = use_dm
        self.margin = margin
        self.margin_value = margin_value
        self.scaler = InstanceScaler(scaler_hidden) if use_is else None

    def forward(self, student_logits: Tensor, teacher_logits: Tensor,
                labels: Tensor) -> Tensor:
        return isdm_loss(student_logits, teacher_logits, labels, self.scaler,
                         self.temperature, self.margin, self.margin_value,
                         self.use_is, self.use_dm, self.loss_weight,
                         self.ent_weight, self.scaler_grad,
                         self.logit_standardize)
