"""NKD: Yang, Zeng, Li, Zhang, Yuan, Li. From Knowledge Distillation to
Self-Knowledge Distillation: A Unified Approach with Normalized Loss and
Customized Soft Labels, ICCV 2023 (arXiv 2303.13005).

Official code: https://github.com/yzd-v/cls_KD
(``mmcls/models/dis_losses/nkd.py``).
"""
import math

import torch.nn as nn
import torch.nn.functional as F
from mmpretrain.registry import MODELS
from torch import Tensor

from .utils import hard_labels, split_target


def nkd_loss(student_logits: Tensor, teacher_logits: Tensor, labels: Tensor,
             temperature: float = 1.0, gamma: float = 1.5) -> Tensor:
    """``mean_i [-T_t log S_t
    - gamma * tau^2 * sum_{j != t} N(T_j^tau) log N(S_j^tau)]``.

    ``T_t`` / ``S_t`` are the teacher's / student's target probabilities at
    temperature 1 (``T_t`` is a constant weight), ``N(P_j^tau) =
    P_j^tau / (1 - P_t^tau)`` is the softmax at temperature ``tau`` of the
    non-target logits only. The non-target term is a cross-entropy (not a
    KL), so it keeps the teacher's normalised non-target entropy as a
    constant. The teacher logits are detached; the batch reduction is the
    mean. Soft (N, C) labels use their argmax as the target.
    """
    if student_logits.dim() != 2 or (student_logits.shape
                                     != teacher_logits.shape):
        raise ValueError(
            'nkd_loss: student and teacher logits must both be (N, C), got '
            f'{tuple(student_logits.shape)} and '
            f'{tuple(teacher_logits.shape)}.')
    if student_logits.size(1) < 2:
        raise ValueError('nkd_loss: needs at least 2 classes, got '
                         f'{student_logits.size(1)}.')
    tau = temperature
    teacher_logits = teacher_logits.detach()
    target = hard_labels(labels, student_logits.size(1))[:, None]
    # target term at temperature 1, weighted by the teacher's T_t
    log_s_t = F.log_softmax(student_logits, dim=1).gather(1, target)
    t_t = F.softmax(teacher_logits, dim=1).gather(1, target)
    loss_target = -(t_t * log_s_t).squeeze(1)
    # normalised non-target distributions at temperature tau
    _, _, log_s_hat, mask = split_target(student_logits / tau, target[:, 0])
    _, _, log_t_hat, _ = split_target(teacher_logits / tau, target[:, 0])
    t_hat = log_t_hat.exp().masked_fill(mask, 0.)
    loss_non = -(t_hat * log_s_hat).sum(dim=1)
    return (loss_target + gamma * tau * tau * loss_non).mean()


@MODELS.register_module()
class NKDLoss(nn.Module):
    """Normalized KD: ``loss_weight * nkd_loss(zs, zt, labels, tau, gamma)``.

    The student's own cross-entropy with the labels is not included: the
    distiller adds it, as the official distiller does.

    Differences from the paper and what is followed here:

    - The paper writes ``N(T_j) = T_j / (1 - T_t)`` of the full softmax; the
      official code drops the target column and takes a softmax of the
      remaining logits. Both are the same distribution; this module uses a
      log-softmax of the target-masked logits (finite for a saturated
      target).
    - The paper writes the loss per sample; the official code averages both
      terms over the batch (``.mean()``), followed here.
    - The official code detaches only ``T_t``; the teacher's non-target
      distribution relies on the distiller's ``torch.no_grad``. Here the
      teacher logits are always detached.
    - Defaults are the official ImageNet ResNet configs (``temp=1.0``,
      ``gamma=1.5``); its CIFAR-100 config uses ``temp=3.0, gamma=3.5`` and
      its DeiT configs ``temp=1.0, gamma=1.0``. The official loss has no
      ``loss_weight``; 1 reproduces it.

    Args:
        temperature: temperature ``tau`` of the non-target term. Defaults
            to 1.
        gamma: weight of the non-target term. Defaults to 1.5.
        loss_weight: overall weight. Defaults to 1.
    """

    def __init__(self, temperature: float = 1.0, gamma: float = 1.5,
                 loss_weight: float = 1.0):
        super().__init__()
        for name, value, ok in (
                ('temperature', temperature, lambda v: v > 0),
                ('gamma', gamma, lambda v: v >= 0),
                ('loss_weight', loss_weight, lambda v: v >= 0)):
            if (isinstance(value, bool)
                    or not isinstance(value, (int, float))
                    or not math.isfinite(value) or not ok(value)):
                bound = '> 0' if name == 'temperature' else '>= 0'
                raise ValueError(f'NKDLoss: {name} must be a finite number '
                                 f'{bound}, got {value!r}.')
        self.temperature = float(temperature)
        self.gamma = float(gamma)
        self.loss_weight = float(loss_weight)

    def forward(self, student_logits: Tensor, teacher_logits: Tensor,
                labels: Tensor) -> Tensor:
        return self.loss_weight * nkd_loss(student_logits, teacher_logits,
                                           labels, self.temperature,
                                           self.gamma)
