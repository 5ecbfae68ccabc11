"""CTKD's adversarial temperature curriculum (Li et al., AAAI 2023, arXiv
2211.16231; official code https://github.com/zhengli97/CTKD): the gradient
reversal layer and its cosine coefficient schedule. Used by
:class:`mmrskd.models.losses.ctkd_loss.CTKDLoss`."""
import math
from typing import Optional

import torch
from torch import Tensor


class GradientReversal(torch.autograd.Function):
    """Identity forward; the backward pass multiplies the gradient by
    ``-lambda_`` (a Python float)."""

    @staticmethod
    def forward(ctx, x: Tensor, lambda_: float) -> Tensor:
        ctx.lambda_ = lambda_
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: Tensor):
        return -ctx.lambda_ * grad, None


def cosine_ramp(step: Optional[int], length: int, low: float,
                high: float) -> float:
    """``low + (high - low) * (1 - cos(pi * n / N)) / 2`` with
    ``n = min(max(step + 1, 0), N)`` for a 0-based ``step`` and ``N =
    length``; ``high`` when ``length`` is 0 or ``step`` is None."""
    if not length or step is None:
        return high
    n = min(max(step + 1, 0), length)
    ramp = (1 - math.cos(math.pi * n / length)) / 2
    return low + (high - low) * ramp
