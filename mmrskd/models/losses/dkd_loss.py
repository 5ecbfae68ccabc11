"""DKD: Zhao, Cui, Song, Qiu, Liang. Decoupled Knowledge Distillation,
CVPR 2022 (arXiv 2203.08679). Optional logit standardization: Sun et al.,
CVPR 2024 (arXiv 2403.01427), see :class:`DKDLoss`."""
from typing import Optional

import torch
import torch.nn as nn
from mmpretrain.registry import MODELS
from torch import Tensor

from .utils import hard_labels, kl_rows, split_target, standardize
from .warmup import linear_warmup


def dkd_loss(student_logits: Tensor, teacher_logits: Tensor, labels: Tensor,
             alpha: float = 1.0, beta=8.0,
             temperature: float = 4.0,
             logit_standardize: bool = False) -> Tensor:
    """``T^2 * mean_i (alpha * TCKD_i + beta_i * NCKD_i)`` (no warm-up).

    ``TCKD = KL(b^T || b^S)`` with ``b = [p_t, 1 - p_t]`` and
    ``NCKD = KL(p_hat^T || p_hat^S)`` with ``p_hat`` the softmax over the
    non-target classes. ``beta`` may be a float or a per-sample tensor (N,).
    Soft (N, C) labels use their argmax as the target. With
    ``logit_standardize`` both logits are Z-scored (:func:`standardize`)
    before the temperature and the target split.
    """
    t = temperature
    target = hard_labels(labels, student_logits.size(1))
    if logit_standardize:
        student_logits = standardize(student_logits)
        teacher_logits = standardize(teacher_logits.detach())
    s_t, s_nt, s_hat, _ = split_target(student_logits / t, target)
    t_t, t_nt, t_hat, _ = split_target(teacher_logits.detach() / t, target)
    log_bs = torch.stack([s_t, s_nt], dim=1)
    log_bt = torch.stack([t_t, t_nt], dim=1)
    tckd = kl_rows(log_bt, log_bs)
    nckd = kl_rows(t_hat, s_hat)
    return (alpha * tckd + beta * nckd).mean() * t * t


@MODELS.register_module()
class DKDLoss(nn.Module):
    """Decoupled KD with the linear warm-up of the reference code.

    ``loss = loss_weight * dkd_loss(...) * factor``. Defaults are the
    CIFAR-style preset (alpha 1, beta 8, T 4, warm-up 20 epochs); the
    ImageNet-style preset is beta 0.5, T 1.

    ``logit_standardize=True`` (Sun et al., CVPR 2024, arXiv 2403.01427,
    https://github.com/sunshangquan/logit-standardization-KD) Z-scores both
    logits per sample, ``(z - mean(z)) / (std(z) + 1e-7)``, before the
    temperature; ``T^2`` is kept. The official script then sets the base
    temperature T = 2 and multiplies alpha and beta by the KD weight 9
    (alpha 9, beta 72 at the CIFAR preset; its per-pair CIFAR-100 logs use
    factors 9 to 18 and beta 2 or 8), the warm-up unchanged.

    The warm-up factor is read from mmengine's message hub
    (:mod:`mmrskd.utils.progress`) and is 1 outside a training loop:

    - ``warmup_iters`` set: ``min((iter + 1) / warmup_iters, 1)`` with
      ``iter`` the 0-based iteration of the run, in any loop;
    - otherwise ``min((epoch + 1) / warmup_epochs, 1)`` with ``epoch``
      0-based (the reference code's ``min(epoch / warmup, 1)``, counted from
      1). In an ``EpochBasedTrainLoop`` that is the hub's epoch. An
      ``IterBasedTrainLoop`` keeps the hub's epoch at 0 for the whole run,
      so there an epoch is a pass over the training dataloader:
      ``epoch = iter // iters_per_epoch``, the length taken from the loop
      (:func:`mmrskd.utils.train_loop_info`). In a loop of another kind
      that also reports ``max_epochs=1`` the length is unknown, and the loss
      raises at the first iteration rather than hold the factor at
      ``1 / warmup_epochs`` for the whole run.

    Args:
        alpha: weight of the target-class term TCKD.
        beta: weight of the non-target term NCKD.
        temperature: softmax temperature T.
        warmup_epochs: epochs of the linear ramp; 0 disables it.
        warmup_iters: iterations of the linear ramp; when set (not None) it
            replaces ``warmup_epochs``, and 0 disables the ramp.
        loss_weight: overall weight.
        logit_standardize: Z-score both logits first. Defaults to False.
    """

    def __init__(self, alpha: float = 1.0, beta: float = 8.0,
                 temperature: float = 4.0, warmup_epochs: int = 20,
                 loss_weight: float = 1.0,
                 warmup_iters: Optional[int] = None,
                 logit_standardize: bool = False):
        super().__init__()
        if temperature <= 0:
            raise ValueError(f'DKDLoss: temperature must be > 0, got '
                             f'{temperature}.')
        for name, value in (('warmup_epochs', warmup_epochs),
                            ('warmup_iters', warmup_iters)):
            if value is not None and (not isinstance(value, int)
                                      or value < 0):
                raise ValueError(f'DKDLoss: {name} must be an integer >= 0 '
                                 f'(0 = no warm-up), got {value!r}.')
        self.alpha = alpha
        self.beta = beta
        self.temperature = temperature
        self.warmup_epochs = warmup_epochs
        self.warmup_iters = warmup_iters
        self.loss_weight = loss_weight
        self.logit_standardize = logit_standardize

    def warmup_factor(self, epoch: Optional[int] = None,
                      iteration: Optional[int] = None) -> float:
        """The warm-up factor at a 0-based ``epoch`` / ``iteration`` (by
        default the running loop's, see the class docstring)."""
        return linear_warmup('DKDLoss', self.warmup_epochs,
                             self.warmup_iters, epoch, iteration)

    def forward(self, student_logits: Tensor, teacher_logits: Tensor,
                labels: Tensor) -> Tensor:
        loss = dkd_loss(student_logits, teacher_logits, labels, self.alpha,
                        self.beta, self.temperature,
                        self.logit_standardize)
        return self.loss_weight * self.warmup_factor() * loss
