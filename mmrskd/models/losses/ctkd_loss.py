"""CTKD: Li, Li, Yang, Zhao, Song, Luo, Li, Yang. Curriculum Temperature for
Knowledge Distillation, AAAI 2023 (arXiv 2211.16231).
Official code: https://github.com/zhengli97/CTKD (global temperature)."""
import math
from typing import Optional

import torch
import torch.nn as nn
from mmpretrain.registry import MODELS
from torch import Tensor

from ...utils.progress import (current_iter, epochs_countable, in_training,
                               training_epoch)
from .ctkd_curriculum import GradientReversal, cosine_ramp
from .dkd_loss import dkd_loss
from .kd_loss import kd_loss


def ctkd_loss(student_logits: Tensor, teacher_logits: Tensor,
              labels: Optional[Tensor], temperature: Tensor, base: str = 'kd',
              alpha: float = 1.0, beta: float = 2.0) -> Tensor:
    """KD (``T^2 * mean KL``) or DKD at a 0-dim tensor temperature ``T``
    (the base losses only divide by T and multiply by T^2)."""
    if base == 'kd':
        return kd_loss(student_logits, teacher_logits, temperature)
    return dkd_loss(student_logits, teacher_logits, labels, alpha, beta,
                    temperature)


@MODELS.register_module()
class CTKDLoss(nn.Module):
    """Curriculum temperature KD with a learnable global temperature.

    ``T = t_start + t_range * sigmoid(GRL_lambda(theta))``, ``theta`` a scalar
    parameter trained by the distiller's optimizer; ``loss = loss_weight *
    base(zs, zt, T)`` with ``base`` KD or DKD. The gradient reversal layer
    (GRL) is the identity forward and multiplies the gradient by ``-lambda``,
    so ``T`` ascends the loss the student descends. ``lambda`` follows
    ``lambda_min + (lambda_max - lambda_min) * (1 - cos(pi * n / N)) / 2``
    with ``n = min(epoch + 1, N)`` for the 0-based ``epoch`` of
    :mod:`mmrskd.utils.progress` (``n = min(iter + 1, N)`` with
    ``curriculum_iters``), and is ``lambda_max`` outside training or with
    ``N = 0``.

    Official code vs. paper (the official behaviour is followed):

    - The range: ``T = t_start + t_end * sigmoid(theta)`` with t_start 1 and
      "t_end" 20, which is a width: ``T`` lies in (1, 21). ``theta`` starts
      at 1, i.e. ``T0 = 1 + 20 * sigmoid(1) ~ 15.62``. The GRL sits on
      ``theta`` before the sigmoid (same gradients as on ``T``).
    - The curriculum: the paper raises lambda from 0 to 1 along a cosine
      over N epochs, the same curve. The official code passes the signed
      value ``-lambda`` (its CosineDecay from decay_max 0 to
      decay_min -1) and the GRL multiplies by it; epochs count from 1, so
      ``lambda`` is ``(1 - cos(pi / N)) / 2``, not 0, in the first epoch and
      1 from epoch N on. N (decay_loops) is 10 on CIFAR-100, 5 on ImageNet.
    - DKD: CTKD's DKD has no warm-up and defaults alpha 1, beta 2 (the
      ImageNet script's comment uses beta 1); the official run weights are
      0.1 CE + 0.9 KD (CIFAR) and 1 CE + 1 KD (ImageNet, here the default).
    - The official SGD applies the student's learning rate and weight decay
      to ``theta``; an mmengine optimizer wrapper does the same by default.

    Args:
        base: ``'kd'`` or ``'dkd'`` (needs labels).
        t_start, t_range: ``T`` lies in ``(t_start, t_start + t_range)``.
        init_temperature: initial ``T``; None is the official ``theta = 1``.
        lambda_min, lambda_max: ends of the GRL curriculum.
        curriculum_epochs: N, epochs of the cosine ramp; 0 disables it.
        curriculum_iters: when set, the ramp's length in iterations instead.
        dkd_alpha, dkd_beta: DKD's TCKD / NCKD weights; loss_weight: weight.
    """

    def __init__(self, base: str = 'kd', t_start: float = 1.0,
                 t_range: float = 20.0,
                 init_temperature: Optional[float] = None,
                 lambda_min: float = 0.0, lambda_max: float = 1.0,
                 curriculum_epochs: int = 10,
                 curriculum_iters: Optional[int] = None,
                 dkd_alpha: float = 1.0, dkd_beta: float = 2.0,
                 loss_weight: float = 1.0):
        super().__init__()
        _check(base in ('kd', 'dkd'), 'base', base, "'kd' or 'dkd'")
        _check(t_start > 0, 't_start', t_start, '> 0')
        _check(t_range > 0, 't_range', t_range, '> 0')
        _check(0 <= lambda_min <= lambda_max, 'lambda_min, lambda_max',
               (lambda_min, lambda_max), '0 <= lambda_min <= lambda_max')
        for name, value in (('curriculum_epochs', curriculum_epochs),
                            ('curriculum_iters', curriculum_iters)):
            _check(value is None or (isinstance(value, int) and value >= 0),
                   name, value, 'an integer >= 0')
        theta = 1.0
        if init_temperature is not None:
            u = (init_temperature - t_start) / t_range
            _check(0 < u < 1, 'init_temperature', init_temperature,
                   f'in ({t_start}, {t_start + t_range})')
            theta = math.log(u / (1 - u))
        self.theta = nn.Parameter(torch.tensor(theta))
        self.base, self.t_start, self.t_range = base, t_start, t_range
        self.lambda_min, self.lambda_max = lambda_min, lambda_max
        self.curriculum_epochs, self.curriculum_iters = (curriculum_epochs,
                                                         curriculum_iters)
        self.alpha, self.beta, self.loss_weight = (dkd_alpha, dkd_beta,
                                                   loss_weight)

    @property
    def temperature(self) -> float:
        """The current learned temperature (for logging)."""
        return self.t_start + self.t_range * torch.sigmoid(
            self.theta.detach()).item()

    def log_vars(self) -> dict:
        """Logged by the distiller next to the losses."""
        return {'ctkd_temperature': torch.tensor(self.temperature)}

    def grl_lambda(self, epoch: Optional[int] = None,
                   iteration: Optional[int] = None) -> float:
        """GRL coefficient at a 0-based ``epoch`` / ``iteration`` (by
        default the running training loop's; ``lambda_max`` outside one)."""
        if self.curriculum_iters is not None:
            if iteration is None and in_training():
                iteration = current_iter()
            return cosine_ramp(iteration, self.curriculum_iters,
                               self.lambda_min, self.lambda_max)
        if epoch is None and in_training():
            if self.curriculum_epochs > 1 and not epochs_countable():
                raise ValueError(
                    'CTKDLoss: cannot count curriculum_epochs='
                    f'{self.curriculum_epochs} in this training loop (it '
                    'reports max_epochs=1 and epoch 0 for the whole run); '
                    'set curriculum_iters instead.')
            epoch = training_epoch()
        return cosine_ramp(epoch, self.curriculum_epochs, self.lambda_min,
                           self.lambda_max)

    def forward(self, student_logits: Tensor, teacher_logits: Tensor,
                labels: Optional[Tensor] = None) -> Tensor:
        if self.base == 'dkd' and labels is None:
            raise ValueError("CTKDLoss: base='dkd' needs labels.")
        theta = GradientReversal.apply(self.theta, self.grl_lambda())
        t = self.t_start + self.t_range * torch.sigmoid(theta)
        return self.loss_weight * ctkd_loss(
            student_logits, teacher_logits, labels, t, self.base, self.alpha,
            self.beta)


def _check(ok: bool, name: str, value, expect: str) -> None:
    if not ok:
        raise ValueError(f'CTKDLoss: {name} must be {expect}, got {value!r}.')
