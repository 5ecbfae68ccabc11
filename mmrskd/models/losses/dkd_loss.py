"""DKD: Zhao, Cui, Song, Qiu, Liang. Decoupled Knowledge Distillation,
CVPR 2022 (arXiv 2203.08679)."""
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.logging import MessageHub
from mmpretrain.registry import MODELS
from torch import Tensor

from .utils import hard_labels, kl_rows, split_target


def dkd_loss(student_logits: Tensor, teacher_logits: Tensor, labels: Tensor,
             alpha: float = 1.0, beta=8.0,
             temperature: float = 4.0) -> Tensor:
    """``T^2 * mean_i (alpha * TCKD_i + beta_i * NCKD_i)`` (no warm-up).

    ``TCKD = KL(b^T || b^S)`` with ``b = [p_t, 1 - p_t]`` and
    ``NCKD = KL(p_hat^T || p_hat^S)`` with ``p_hat`` the softmax over the
    non-target classes. ``beta`` may be a float or a per-sample tensor (N,).
    Soft (N, C) labels use their argmax as the target.
    """
    t = temperature
    target = hard_labels(labels, student_logits.size(1))
    s_t, s_nt, s_hat, _ = split_target(student_logits / t, target)
    t_t, t_nt, t_hat, _ = split_target(teacher_logits.detach() / t, target)
    log_bs = torch.stack([s_t, s_nt], dim=1)
    log_bt = torch.stack([t_t, t_nt], dim=1)
    tckd = kl_rows(log_bt, log_bs)
    nckd = kl_rows(t_hat, s_hat)
    return (alpha * tckd + beta * nckd).mean() * t * t


def current_epoch() -> Optional[int]:
    """0-based epoch of the running mmengine loop, or None outside one."""
    hub = MessageHub.get_current_instance()
    return hub.get_info('epoch', None)


@MODELS.register_module()
class DKDLoss(nn.Module):
    """Decoupled KD with the linear warm-up of the reference code.

    ``loss = loss_weight * dkd_loss(...) * min(epoch / warmup_epochs, 1)``
    with ``epoch`` counted from 1 and read from mmengine's message hub (the
    factor is 1 outside a training loop). Defaults are the CIFAR-style
    preset (alpha 1, beta 8, T 4, warm-up 20); the ImageNet-style preset is
    beta 0.5, T 1.

    Args:
        alpha: weight of the target-class term TCKD.
        beta: weight of the non-target term NCKD.
        temperature: softmax temperature T.
        warmup_epochs: epochs of the linear ramp; 0 disables it.
        loss_weight: overall weight.
    """

    def __init__(self, alpha: float = 1.0, beta: float = 8.0,
                 temperature: float = 4.0, warmup_epochs: int = 20,
                 loss_weight: float = 1.0):
        super().__init__()
        if temperature <= 0:
            raise ValueError(f'DKDLoss: temperature must be > 0, got '
                             f'{temperature}.')
        self.alpha = alpha
        self.beta = beta
        self.temperature = temperature
        self.warmup_epochs = warmup_epochs
        self.loss_weight = loss_weight

    def warmup_factor(self, epoch: Optional[int] = None) -> float:
        """``min(epoch / warmup, 1)`` for a 0-based ``epoch`` (or the hub's)."""
        epoch = current_epoch() if epoch is None else epoch
        if not self.warmup_epochs or epoch is None:
            return 1.0
        return min((epoch + 1) / self.warmup_epochs, 1.0)

    def forward(self, student_logits: Tensor, teacher_logits: Tensor,
                labels: Tensor) -> Tensor:
        loss = dkd_loss(student_logits, teacher_logits, labels, self.alpha,
                        self.beta, self.temperature)
        return self.loss_weight * self.warmup_factor() * loss
