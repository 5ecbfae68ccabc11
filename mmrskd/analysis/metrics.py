"""The numbers behind the ISDM paper's analysis figures (Figs. 4, 5, 7)."""
from typing import Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from ..models.losses.isdm_terms import instance_features, scale_soft_label


def correlation_difference(teacher_logits: Tensor,
                           student_logits: Tensor) -> Tensor:
    """``|corr(zt) - corr(zs)|``: the C x C absolute difference of the
    class-by-class Pearson correlation matrices of the two models' logits
    over the samples (ISDM Fig. 7, as in DKD's fidelity figure); small
    means the student reproduces the teacher's class relations."""
    def corr(z: Tensor) -> Tensor:
        return torch.corrcoef(z.double().T)
    return (corr(teacher_logits) - corr(student_logits)).abs()


def class_centre_similarity(logits: Tensor, labels: Tensor,
                            num_classes: int) -> Tensor:
    """Mean cosine similarity of the logits of class-i samples to the
    centre (mean logit vector) of class j: a C x C matrix (ISDM Fig. 4).
    High off-diagonal entries mean classes the model confuses."""
    z = logits.double()
    centres = torch.stack([z[labels == c].mean(0) for c in range(num_classes)])
    sim = F.normalize(z, dim=1) @ F.normalize(centres, dim=1).T  # (N, C)
    return torch.stack([sim[labels == c].mean(0) for c in range(num_classes)])


def confusion_matrix(logits: Tensor, labels: Tensor,
                     num_classes: int) -> Tensor:
    """Counts ``M[i, j]`` of class-i samples predicted as class j."""
    pred = logits.argmax(1)
    return torch.bincount(labels * num_classes + pred,
                          minlength=num_classes ** 2).view(num_classes,
                                                           num_classes)


def pick_easy_and_hard(teacher_logits: Tensor, labels: Tensor,
                       k: int = 2) -> Tuple[Tensor, Tensor]:
    """Indices of the ``k`` samples on which the teacher is most and least
    confident in the true class (its softmax probability at T = 1)."""
    p_t = F.softmax(teacher_logits, 1).gather(1, labels[:, None]).squeeze(1)
    order = p_t.argsort()
    return order[-k:].flip(0), order[:k]


@torch.no_grad()
def isdm_soft_labels(teacher_logits: Tensor, labels: Tensor,
                     scaler: nn.Module, temperature: float
                     ) -> Tuple[Tensor, Tensor, Tensor]:
    """The teacher's soft label before (``softmax_T(zt)``) and after the
    ISDM instance-level scaling, and the scale ``s`` (ISDM Fig. 5)."""
    z = teacher_logits.float()
    u = instance_features(z, labels, temperature)
    scale = scaler(u)
    log_q, _ = scale_soft_label(z, labels, scale, temperature)
    return F.softmax(z / temperature, 1), log_q.exp(), scale
