"""Exact t-SNE (van der Maaten & Hinton, JMLR 2008) in torch, for the few
thousand test samples of a scene-classification set (no scikit-learn)."""
import math
from typing import Optional

import torch
from torch import Tensor


def _conditional_p(d2: Tensor, perplexity: float, tol: float = 1e-4,
                   steps: int = 64) -> Tensor:
    """Row-wise Gaussian affinities whose entropy is log(perplexity),
    by bisection on each row's precision beta = 1 / (2 sigma^2)."""
    n = d2.size(0)
    target = math.log(perplexity)
    lo = torch.full((n, 1), 0., dtype=d2.dtype)
    hi = torch.full((n, 1), float('inf'), dtype=d2.dtype)
    beta = torch.ones(n, 1, dtype=d2.dtype)
    eye = torch.eye(n, dtype=torch.bool)
    for _ in range(steps):
        logits = (-d2 * beta).masked_fill(eye, -float('inf'))
        p = torch.softmax(logits, 1)
        entropy = -(p * torch.log(p.clamp_min(1e-300))).sum(1, keepdim=True)
        if (entropy - target).abs().max() < tol:
            break
        too_flat = entropy > target  # raise beta to sharpen
        lo = torch.where(too_flat, beta, lo)
        hi = torch.where(too_flat, hi, beta)
        beta = torch.where(torch.isinf(hi), beta * 2, (lo + hi) / 2)
    return p


def tsne(x: Tensor, perplexity: float = 30., iters: int = 750,
         lr: Optional[float] = None, seed: int = 0) -> Tensor:
    """2-D embedding of the rows of ``x`` (N, D): symmetric P from
    perplexity-calibrated Gaussians, Student-t Q, KL(P || Q) minimised by
    gradient descent with momentum, early exaggeration 12 for the first
    250 steps (the paper's schedule). The default step size, ``N / 48``
    but at least 10, follows scikit-learn's ``learning_rate='auto'``
    (``N / exaggeration / 4``); larger fixed steps blow small sets up."""
    x = x.double()
    n = x.size(0)
    lr = max(n / 48, 10.) if lr is None else lr
    perplexity = min(perplexity, (n - 1) / 3)
    d2 = torch.cdist(x, x).pow(2)
    p = _conditional_p(d2 / d2.max().clamp_min(1e-12), perplexity)
    p = ((p + p.T) / (2 * n)).clamp_min(1e-12)
    g = torch.Generator().manual_seed(seed)
    y = torch.randn(n, 2, generator=g, dtype=x.dtype) * 1e-4
    velocity = torch.zeros_like(y)
    gains = torch.ones_like(y)
    for it in range(iters):
        exaggeration = 12. if it < 250 else 1.
        momentum = 0.5 if it < 250 else 0.8
        num = 1 / (1 + torch.cdist(y, y).pow(2))
        num.fill_diagonal_(0)
        q = (num / num.sum()).clamp_min(1e-12)
        w = (exaggeration * p - q) * num
        grad = 4 * (w.sum(1, keepdim=True) * y - w @ y)
        same = (grad > 0) == (velocity > 0)
        gains = torch.where(same, gains * 0.8, gains + 0.2).clamp_min(0.01)
        velocity = momentum * velocity - lr * gains * grad
        y = y + velocity
        y = y - y.mean(0)
    return y.float()
