"""Small numerically stable helpers shared by the losses (logit losses,
feature losses and the detection distillation)."""
from typing import Tuple

import torch
import torch.nn.functional as F
from torch import Tensor


def hard_labels(labels: Tensor, num_classes: int) -> Tensor:
    """Class indices from hard labels (N,) or soft Mixup/CutMix targets
    (N, C): the target of a soft label is its argmax."""
    if labels.dim() == 2:
        if labels.size(1) != num_classes:
            raise ValueError(
                f'Soft labels have {labels.size(1)} classes, logits have '
                f'{num_classes}.')
        return labels.argmax(dim=1)
    if labels.dim() != 1:
        raise ValueError(f'labels must be (N,) or (N, C), got shape '
                         f'{tuple(labels.shape)}.')
    return labels.long()


def kl_rows(log_p: Tensor, log_q: Tensor) -> Tensor:
    """Per-row ``KL(p || q) = sum_c p_c (log p_c - log q_c)`` from log-probs.

    Entries with ``p_c = 0`` contribute 0 (``log_p`` may be -inf there is
    not allowed: callers mask with finite values).
    """
    return (log_p.exp() * (log_p - log_q)).sum(dim=1)


def split_target(logits: Tensor, target: Tensor
                 ) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
    """Decompose ``softmax(logits)`` around the target class.

    Returns:
        ``(log_p_t, log_p_not_t, log_p_hat, mask)``: log of the target
        probability (N,), log of ``1 - p_t`` (N,), log of the softmax over
        the non-target classes only (N, C; set to 0 at the target, where it
        is undefined), and the one-hot target mask (N, C, bool). All finite
        for any finite logits, including a saturated target.
    """
    mask = F.one_hot(target, logits.size(1)).bool()
    log_p = F.log_softmax(logits, dim=1)
    log_p_t = log_p.gather(1, target[:, None]).squeeze(1)
    masked = logits.masked_fill(mask, float('-inf'))
    log_p_not_t = torch.logsumexp(masked, dim=1) - torch.logsumexp(logits,
                                                                   dim=1)
    log_p_hat = F.log_softmax(masked, dim=1).masked_fill(mask, 0.)
    return log_p_t, log_p_not_t, log_p_hat, mask


def standardize(logits: Tensor, eps: float = 1e-7) -> Tensor:
    """Per-sample Z-score over the classes (last dim), logit standardization
    of Sun et al., CVPR 2024 (arXiv 2403.01427):
    ``(z - mean(z)) / (std(z) + eps)``.

    ``std`` is the unbiased estimate (divisor ``C - 1``) and ``eps`` (1e-7)
    is added to it, as ``normalize`` in the official code
    (github.com/sunshangquan/logit-standardization-KD) does with
    ``Tensor.std``, and we follow it; the paper's Algorithm 1, to our
    reading, writes the population std (divisor ``C``) without ``eps``,
    which only rescales the result by ``sqrt(C / (C - 1))``. Constant
    logits (std 0) map to 0 (a uniform softmax) with finite gradients, of
    order ``1 / eps`` there. Half-precision logits are standardized in
    float32, and the float32 result is returned.
    """
    if logits.size(-1) < 2:
        raise ValueError(f'standardize: needs at least 2 classes, got logits '
                         f'of shape {tuple(logits.shape)}.')
    if logits.dtype in (torch.float16, torch.bfloat16):
        logits = logits.float()
    centred = logits - logits.mean(dim=-1, keepdim=True)
    var = centred.pow(2).sum(dim=-1, keepdim=True) / (logits.size(-1) - 1)
    # sqrt has an infinite slope at 0: take the root where var > 0 only
    tiny = torch.finfo(var.dtype).tiny
    std = torch.where(var > 0, var.clamp_min(tiny).sqrt(),
                      torch.zeros_like(var))
    return centred / (std + eps)


def float_maps(feats) -> list:
    """A map or a sequence of maps (e.g. FPN levels) as a list, half
    precision cast to float32 (losses computed in float32 under --amp)."""
    feats = [feats] if isinstance(feats, Tensor) else list(feats)
    return [f.float() if f.dtype in (torch.float16, torch.bfloat16) else f
            for f in feats]


def normalize_per_sample(x: Tensor, eps: float = 1e-5) -> Tensor:
    """Zero mean, unit variance over all but the first dim (e.g. (C, H, W)
    of an (N, C, H, W) map) of each sample: ``(x - mean) / (std + eps)``
    with the population std (divisor ``C * H * W``)."""
    flat = x.flatten(1)
    mean = flat.mean(1, keepdim=True)
    std = flat.std(1, unbiased=False, keepdim=True)
    return ((flat - mean) / (std + eps)).view_as(x)
