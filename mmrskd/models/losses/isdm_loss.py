"""ISDM: Li, Teng, Ding, Lan. Instance-Level Scaling and Dynamic
Margin-Alignment Knowledge Distillation for Remote Sensing Image Scene
Classification, Remote Sensing 2024, 16(20):3853.

Its terms (mmrskd's reading of the paper's Eq. 8 and 9, which are not public
in closed form) are the pure functions of :mod:`.isdm_terms`. Optional logit
standardization: Sun et al., CVPR 2024 (arXiv 2403.01427), see
:class:`ISDMLoss`.
"""
import logging
import warnings
from typing import Optional

import torch.nn as nn
import torch.nn.functional as F
from mmengine.logging import print_log
from mmpretrain.registry import MODELS
from torch import Tensor

from .isdm_terms import (InstanceScaler, entropy_regulariser,
                         scaled_teacher_label, subtract_margin)
from .utils import hard_labels, kl_rows, standardize


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
    (or fixed) margin (0 when ``use_dm`` is off). ``scaler_grad`` and
    ``logit_standardize`` (:func:`standardize` applied to both raw logits
    before everything else): as in :class:`ISDMLoss`.
    """
    t = temperature
    teacher_logits = teacher_logits.detach()
    if logit_standardize:
        student_logits = standardize(student_logits)
        teacher_logits = standardize(teacher_logits)
    target = hard_labels(labels, student_logits.size(1))
    if use_is:
        log_q_reg, q_t = scaled_teacher_label(teacher_logits, target, scaler,
                                              t)
        log_q = log_q_reg.detach() if scaler_grad == 'regulariser' \
            else log_q_reg
    else:
        log_q = F.log_softmax(teacher_logits / t, dim=1)
    if use_dm:
        student_logits = subtract_margin(student_logits, teacher_logits,
                                         target, margin, margin_value)
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
    ``use_is=False, use_dm=False`` it equals ``kd_weight * KDLoss``.

    ``logit_standardize=True`` (Sun et al., CVPR 2024, arXiv 2403.01427,
    https://github.com/sunshangquan/logit-standardization-KD) Z-scores the
    raw student and teacher logits, ``(z - mean(z)) / (std(z) + 1e-7)``,
    before everything else: instance features, scaled label, dynamic margin
    and the temperature. The whole loss is then unchanged by a per-sample
    shift and positive scale of either logit set, and equals
    ``kd_weight * KDLoss(logit_standardize=True)`` without IS and DM.
    ``margin_value`` is then in units of the logit's standard deviation
    (a Z-score is at most ``(C - 1) / sqrt(C)``). Neither paper gives a
    setting for ISDM with it; LS's KD recipe is T = 2, KL weight 9.

    Args:
        temperature: T. Defaults to 4.
        kd_weight: ``w_kd``, weight of the KL term only (not of the whole
            loss, unlike the other losses' ``loss_weight``). Defaults to 4.
        ent_weight: ``w_ent``, weight of the entropy regulariser. Default 0.1.
        use_is: instance-level scaling on/off (ablation "noIS").
        use_dm: margin alignment on/off (ablation "noDM").
        margin: ``'dynamic'`` (``m0 * (2 c - 1)``) or ``'fixed'`` (ablation
            "FM", constant ``margin_value``).
        margin_value: ``m0`` (dynamic) or the fixed margin. Defaults to 5.
        scaler_hidden: hidden width of the scaler. Defaults to 16.
        scaler_grad: ``'regulariser'`` (default): the scaler learns from
            ``L_ent`` only, the KL term seeing ``q`` as a fixed target;
            ``'all'``: the KL term trains it too (the literal reading of the
            formula): the scaler can then lower the KL by moving ``q``
            toward the student instead of the student toward ``q``, which
            on the demo scenes collapses ``q_t`` and the student to chance
            (docs/methods.md).
        logit_standardize: Z-score both logits first. Defaults to False.
        loss_weight: deprecated name of ``kd_weight`` (DeprecationWarning);
            when given it sets ``kd_weight``, so a config that overrides a
            base config's ``loss_weight`` keeps its meaning.
    """

    def __init__(self, temperature: float = 4.0, kd_weight: float = 4.0,
                 ent_weight: float = 0.1, use_is: bool = True,
                 use_dm: bool = True, margin: str = 'dynamic',
                 margin_value: float = 5.0, scaler_hidden: int = 16,
                 scaler_grad: str = 'regulariser',
                 logit_standardize: bool = False,
                 loss_weight: Optional[float] = None):
        super().__init__()
        if loss_weight is not None:
            kd_weight = deprecated_loss_weight(loss_weight)
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
        self.kd_weight = kd_weight
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
                         self.use_is, self.use_dm, self.kd_weight,
                         self.ent_weight, self.scaler_grad,
                         self.logit_standardize)


def deprecated_loss_weight(loss_weight: float) -> float:
    """Warn that ``ISDMLoss(loss_weight=...)`` is ``kd_weight`` now."""
    msg = (f'ISDMLoss: loss_weight={loss_weight} is deprecated, use '
           'kd_weight (it weighs the KL term only, not the whole loss as '
           'loss_weight does in the other losses); taken as kd_weight.')
    warnings.warn(msg, DeprecationWarning, stacklevel=3)
    print_log(msg, logger='current', level=logging.WARNING)
    return loss_weight
