"""CRD: Tian, Krishnan, Isola. Contrastive Representation Distillation,
ICLR 2020 (arXiv 1910.10699), https://github.com/HobbitLong/RepDistiller
(crd/criterion.py, crd/memory.py; mdistiller's distillers/CRD.py)."""
from typing import Optional, Sequence, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmpretrain.registry import MODELS
from torch import Tensor

from .crd_memory import CRDMemory, sample_negatives


def crd_scores(f: Tensor, mem: Tensor, temperature: float) -> Tensor:
    """``exp(<mem_ij, f_i> / t)`` (N, 1 + K) for anchors ``f`` (N, D) and
    bank rows ``mem`` (N, 1 + K, D), in float32 with autocast off."""
    with torch.autocast(device_type=f.device.type, enabled=False):
        dots = torch.bmm(mem.float(), f.float()[:, :, None]).squeeze(2)
    return torch.exp(dots / temperature)


def nce_loss(p: Tensor, num_samples: int, eps: float = 1e-7) -> Tensor:
    """NCE of the official ``ContrastLoss``, ``c = K / num_samples``:
    ``-(1/N) sum_i [log(p_i0 / (p_i0 + c + eps))
    + sum_{j>0} log(c / (p_ij + c + eps))]``, column 0 the positive."""
    c = (p.size(1) - 1) / num_samples
    log_pos = torch.log(p[:, 0] / (p[:, 0] + c + eps))
    log_neg = torch.log(c / (p[:, 1:] + c + eps))
    return -(log_pos.sum() + log_neg.sum()) / p.size(0)


def crd_loss(f_s: Tensor, f_t: Tensor, mem_s: Tensor, mem_t: Tensor,
             z: Tensor, temperature: float, num_samples: int) -> Tensor:
    """``nce(exp(mem_t . f_s / t) / Z_s) + nce(exp(mem_s . f_t / t) / Z_t)``:
    student anchors against teacher-bank rows ``mem_t``, teacher anchors
    against student-bank rows ``mem_s`` (both (N, 1 + K, D)), ``z = [Z_s,
    Z_t]``; ``f_s``, ``f_t`` are the l2-normalised embeddings (N, D)."""
    p_s = crd_scores(f_s, mem_t, temperature) / z[0]
    p_t = crd_scores(f_t, mem_s, temperature) / z[1]
    return nce_loss(p_s, num_samples) + nce_loss(p_t, num_samples)


def _last(x: Union[Tensor, Sequence[Tensor]]) -> Tensor:
    """A neck's tuple output -> its last tensor, flattened to (N, C)."""
    x = x[-1] if isinstance(x, (tuple, list)) else x
    return x.flatten(1)


@MODELS.register_module()
class CRDLoss(nn.Module):
    """Contrastive representation distillation with the official memory.

    ``f = l2norm(Linear(x))`` embeds the pooled student / teacher features
    (official ``Embed``; both heads are trained, the teacher features are
    detached). Each anchor is scored against 1 + K rows of the other side's
    bank, its own index (the positive) and K negatives; the loss is
    ``loss_weight * crd_loss(...)``, then ``bank[i] <- normalize(m * bank[i]
    + (1 - m) * f_i)``. Call ``loss(student_embed, teacher_embed,
    sample_idx[, labels])`` (a tuple / list feature gives its last element);
    pass ``labels`` (``inputs=['student.neck', 'teacher.neck', 'sample_idx',
    'labels']``) for the official default 'exact' mode, whose negatives
    come from other classes.

    Paper vs official code (we follow the code): the paper's critic is
    ``h = e / (e + N/M)``, ``e = exp(f_t . f_s / t)``; the code uses ``h =
    p / (p + K/M + 1e-7)``, ``p = e / Z``, ``Z = M * mean(e)`` estimated on
    the first batch, then fixed (buffer ``memory.z``). It sums the NCE over
    both directions (student and teacher anchors) and the K negatives, and
    averages over the batch. 'exact' draws negatives from the other
    classes (RepDistiller: without replacement; mdistiller ImageNet: with);
    here they are uniform with replacement, redrawn when equal to the
    positive or of the anchor's class as learnt from the ``labels`` seen so
    far (an unseen sample is accepted, e.g. in the first epoch; Mixup
    targets use their argmax); without ``labels`` only the positive is
    excluded. ``nce_k`` is clamped to ``num_samples - 1``. Under
    torch.distributed the banks stay identical on every rank (``CRDMemory``).

    Args:
        num_samples: training-set size M (``len(train dataset)``), required.
        student_channels / teacher_channels: input dims of the embeddings.
        feat_dim: embedding dim. nce_k: negatives K. nce_t: temperature.
        nce_mom: bank momentum m. loss_weight: official beta 0.8.
    """

    def __init__(self, num_samples: Optional[int] = None,
                 student_channels: int = 512, teacher_channels: int = 512,
                 feat_dim: int = 128, nce_k: int = 16384, nce_t: float = 0.07,
                 nce_mom: float = 0.5, loss_weight: float = 0.8):
        super().__init__()
        ints = dict(student_channels=student_channels, nce_k=nce_k,
                    teacher_channels=teacher_channels, feat_dim=feat_dim,
                    num_samples=2 if num_samples is None else num_samples)
        for name, v in ints.items():
            if not isinstance(v, int) or v < 1 + (name == 'num_samples'):
                raise ValueError(f'CRDLoss: {name} must be a positive '
                                 f'integer (num_samples >= 2), got {v!r}.')
        if nce_t <= 0 or not 0 <= nce_mom < 1:
            raise ValueError(f'CRDLoss: need nce_t > 0 and 0 <= nce_mom < 1,'
                             f' got nce_t={nce_t}, nce_mom={nce_mom}.')
        self.num_samples = num_samples
        self.nce_k = min(nce_k, num_samples - 1) if num_samples else nce_k
        self.nce_t, self.nce_mom = nce_t, nce_mom
        self.loss_weight = loss_weight
        self.embed_s = nn.Linear(student_channels, feat_dim)
        self.embed_t = nn.Linear(teacher_channels, feat_dim)
        self.memory = CRDMemory(num_samples, feat_dim) if num_samples else None

    def embed(self, student_embed, teacher_embed):
        """The l2-normalised float32 embeddings ``(f_s, f_t)``."""
        x_s, x_t = _last(student_embed), _last(teacher_embed).detach()
        f_s = self.embed_s(x_s.to(self.embed_s.weight.dtype))
        f_t = self.embed_t(x_t.to(self.embed_t.weight.dtype))
        return F.normalize(f_s.float(), dim=1), F.normalize(f_t.float(), dim=1)

    def forward(self, student_embed, teacher_embed, sample_idx: Tensor,
                labels: Optional[Tensor] = None,
                contrast_idx: Optional[Tensor] = None) -> Tensor:
        """``contrast_idx`` (N, 1 + k), column 0 the positive, replaces the
        sampled indices (for tests)."""
        if self.memory is None:
            raise ValueError('CRDLoss: num_samples is not set; set it to '
                             'len(train dataset) in the CRDLoss config.')
        mem = self.memory
        f_s, f_t = self.embed(student_embed, teacher_embed)
        idx = sample_idx.reshape(-1).long().to(mem.bank_s.device)
        if idx.numel() != f_s.size(0) or int(idx.min()) < 0 or \
                int(idx.max()) >= self.num_samples:
            raise ValueError(f'CRDLoss: sample_idx must hold {f_s.size(0)} '
                             f'indices in [0, num_samples={self.num_samples})'
                             '; is num_samples len(train dataset)?')
        y = labels if labels is None or labels.dim() != 2 else labels.argmax(1)
        y = None if y is None else y.reshape(-1).long().to(idx.device)
        if not mem.z_ready:
            mem.sync()
        if contrast_idx is None:
            contrast_idx = sample_negatives(idx, self.nce_k, self.num_samples,
                                            y, mem.bank_labels)
        contrast_idx = contrast_idx.to(idx.device)
        if contrast_idx.dim() != 2 or contrast_idx.shape[0] != idx.numel() \
                or contrast_idx.shape[1] < 2:
            raise ValueError(f'CRDLoss: contrast_idx must be (N, 1 + k), got '
                             f'{tuple(contrast_idx.shape)}.')
        mem_s, mem_t = mem.bank_s[contrast_idx], mem.bank_t[contrast_idx]
        if not mem.z_ready:
            with torch.no_grad():
                mem.set_z(crd_scores(f_s, mem_t, self.nce_t),
                          crd_scores(f_t, mem_s, self.nce_t))
        loss = crd_loss(f_s, f_t, mem_s, mem_t, mem.z, self.nce_t,
                        self.num_samples)
        mem.update(f_s.detach(), f_t.detach(), idx, y, self.nce_mom)
        return self.loss_weight * loss
