"""KD: Hinton, Vinyals, Dean. Distilling the Knowledge in a Neural Network,
NIPS Deep Learning Workshop 2015."""
import torch.nn as nn
import torch.nn.functional as F
from mmpretrain.registry import MODELS
from torch import Tensor

from .utils import kl_rows


def kd_loss(student_logits: Tensor, teacher_logits: Tensor,
            temperature: float = 4.0) -> Tensor:
    """``T^2 * mean_i KL(softmax_T(zt_i) || softmax_T(zs_i))``.

    The teacher logits are detached; the batch reduction is the mean.
    """
    t = temperature
    log_ps = F.log_softmax(student_logits / t, dim=1)
    log_pt = F.log_softmax(teacher_logits.detach() / t, dim=1)
    return kl_rows(log_pt, log_ps).mean() * t * t


@MODELS.register_module()
class KDLoss(nn.Module):
    """Hinton's logit distillation: ``loss_weight * kd_loss(zs, zt, T)``.

    Args:
        temperature: softmax temperature T. Defaults to 4.
        loss_weight: weight of the loss. Defaults to 1.
    """

    def __init__(self, temperature: float = 4.0, loss_weight: float = 1.0):
        super().__init__()
        if temperature <= 0:
            raise ValueError(f'KDLoss: temperature must be > 0, got '
                             f'{temperature}.')
        self.temperature = temperature
        self.loss_weight = loss_weight

    def forward(self, student_logits: Tensor, teacher_logits: Tensor,
                labels: Tensor = None) -> Tensor:
        """``labels`` is accepted for a uniform signature and unused."""
        return self.loss_weight * kd_loss(student_logits, teacher_logits,
                                          self.temperature)
