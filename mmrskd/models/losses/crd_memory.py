"""Memory banks and negative sampling of CRD (Tian et al., ICLR 2020,
arXiv 1910.10699, https://github.com/HobbitLong/RepDistiller, crd/memory.py),
kept identical on every rank under torch.distributed."""
import math
from typing import Optional

import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor


def _world() -> int:
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size()
    return 1


def gather_rows(x: Tensor) -> Tensor:
    """Concatenate ``x`` (n_r, ...) of every rank in rank order (the ranks'
    batch sizes may differ); ``x`` itself outside torch.distributed."""
    if _world() == 1:
        return x
    n = torch.tensor([x.size(0)], device=x.device)
    sizes = [torch.zeros_like(n) for _ in range(_world())]
    dist.all_gather(sizes, n)
    padded = x.new_zeros((int(max(sizes)),) + tuple(x.shape[1:]))
    padded[:x.size(0)] = x
    outs = [torch.empty_like(padded) for _ in range(_world())]
    dist.all_gather(outs, padded)
    return torch.cat([o[:int(s)] for o, s in zip(outs, sizes)])


def sample_negatives(pos_idx: Tensor, k: int, num_samples: int,
                     labels: Optional[Tensor] = None,
                     bank_labels: Optional[Tensor] = None,
                     generator: Optional[torch.Generator] = None,
                     max_tries: int = 10) -> Tensor:
    """Contrast indices (N, 1 + k): column 0 is ``pos_idx``, then ``k``
    negatives drawn uniformly with replacement from ``[0, num_samples)``.

    A draw equal to the positive index, or (given ``labels``) of a sample
    whose label in ``bank_labels`` (-1 = not seen yet) is the anchor's, is
    redrawn, up to ``max_tries`` rounds (any left are kept).
    """
    n, dev = pos_idx.numel(), pos_idx.device
    neg = torch.randint(num_samples, (n, k), device=dev, generator=generator)
    for _ in range(max_tries):
        bad = neg == pos_idx[:, None]
        if labels is not None:
            bad |= bank_labels[neg] == labels[:, None]
        n_bad = int(bad.sum())
        if n_bad == 0:
            break
        neg[bad] = torch.randint(num_samples, (n_bad,), device=dev,
                                 generator=generator)
    return torch.cat([pos_idx[:, None], neg], dim=1)


class CRDMemory(nn.Module):
    """Student and teacher banks (num_samples, feat_dim), official uniform
    init in ``+-1/sqrt(feat_dim/3)`` (rows not normalised until updated),
    the samples' labels (-1 = unseen) and the NCE constants ``z`` = [Z_s,
    Z_t] (-1 = unset). All are buffers, so checkpoints keep them.

    torch.distributed: each rank scores its own batch; at the first step
    rank 0's banks are broadcast (:meth:`sync`) and Z is the mean over all
    ranks' batches; every rank applies the all-gathered update, so the
    banks stay identical. Negatives come from each rank's default RNG on
    the bank's device (the runner's seed; with ``diff_rank_seed=False``
    ranks draw the same raw indices, harmless as the anchors differ). The
    banks need no DDP buffer broadcast: ``broadcast_buffers=False`` in
    ``model_wrapper_cfg`` saves copying them every step.
    """

    def __init__(self, num_samples: int, feat_dim: int):
        super().__init__()
        stdv = 1. / math.sqrt(feat_dim / 3)
        for name in ('bank_s', 'bank_t'):
            bank = torch.rand(num_samples, feat_dim) * 2 * stdv - stdv
            self.register_buffer(name, bank)
        self.register_buffer('bank_labels',
                             torch.full((num_samples,), -1, dtype=torch.long))
        self.register_buffer('z', torch.full((2,), -1.))

    @property
    def z_ready(self) -> bool:
        return bool((self.z > 0).all())

    @torch.no_grad()
    def sync(self) -> None:
        """Copy rank 0's banks to every rank (before the first batch)."""
        if _world() > 1:
            for buf in (self.bank_s, self.bank_t, self.bank_labels):
                dist.broadcast(buf, 0)

    @torch.no_grad()
    def set_z(self, exp_s: Tensor, exp_t: Tensor) -> None:
        """``Z = num_samples * mean(exp scores)`` over the global batch."""
        stats = torch.stack([exp_s.double().sum(), exp_t.double().sum(),
                             exp_s.new_tensor(exp_s.numel(),
                                              dtype=torch.float64)])
        if _world() > 1:
            dist.all_reduce(stats)
        self.z.copy_(stats[:2] / stats[2] * self.bank_s.size(0))

    @torch.no_grad()
    def update(self, f_s: Tensor, f_t: Tensor, idx: Tensor,
               labels: Optional[Tensor], momentum: float) -> None:
        """``bank[i] <- normalize(m * bank[i] + (1 - m) * f_i)`` for the
        samples of every rank's batch (a repeated index: its last row)."""
        d = f_s.size(1)
        cols = [f_s.double(), f_t.double(), idx.double()[:, None]]
        if labels is not None:
            cols.append(labels.double()[:, None])
        rows = gather_rows(torch.cat(cols, dim=1))
        idx = rows[:, 2 * d].long()
        uniq, inv = torch.unique(idx, return_inverse=True)
        last = torch.full_like(uniq, -1).scatter_reduce_(
            0, inv, torch.arange(idx.numel(), device=idx.device), 'amax')
        rows = rows[last]
        for bank, feat in ((self.bank_s, rows[:, :d]),
                           (self.bank_t, rows[:, d:2 * d])):
            new = momentum * bank[uniq] + (1 - momentum) * feat.to(bank)
            bank.index_copy_(0, uniq, F.normalize(new, dim=1))
        if labels is not None:
            self.bank_labels[uniq] = rows[:, -1].long()
