"""Small numerically stable helpers shared by the logit losses."""
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
