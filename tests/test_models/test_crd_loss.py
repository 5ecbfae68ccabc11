"""CRDLoss (Tian et al., ICLR 2020) against an independent float64 numpy
reference of the official NCE (RepDistiller crd/criterion.py, memory.py),
the memory update, the fixed normalisation constant Z, and the banks under
a real 2-process gloo group."""
import os

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from mmpretrain.registry import MODELS

from mmrskd.models.losses.crd_loss import CRDLoss, nce_loss
from mmrskd.models.losses.crd_memory import sample_negatives


def _build(cfg):
    with MODELS.switch_scope_and_registry('mmpretrain') as registry:
        return registry.build(cfg)


# ------------------------------------------------------ numpy reference
def _np_norm(x):
    return x / np.sqrt((x * x).sum(1, keepdims=True))


def np_nce(p, m):
    """-(1/N) sum_i [log P(D=1|pos) + sum_j log P(D=0|neg_j)], noise K/M."""
    k = p.shape[1] - 1
    c = k / m
    d1 = np.log(p[:, 0] / (p[:, 0] + c + 1e-7))
    d0 = np.log(c / (p[:, 1:] + c + 1e-7))
    return -(d1.sum() + d0.sum()) / p.shape[0]


def np_step(loss, xs, xt, cidx, bank_s, bank_t, z=None):
    """One official step in float64: loss (unweighted), Z, new banks."""
    def emb(lin, x):
        w = lin.weight.detach().double().numpy()
        b = lin.bias.detach().double().numpy()
        return _np_norm(np.asarray(x, np.float64) @ w.T + b)
    fs, ft = emb(loss.embed_s, xs), emb(loss.embed_t, xt)
    t, m, mom = loss.nce_t, loss.num_samples, loss.nce_mom
    e_s = np.exp(np.einsum('nkd,nd->nk', bank_t[cidx], fs) / t)
    e_t = np.exp(np.einsum('nkd,nd->nk', bank_s[cidx], ft) / t)
    if z is None:
        z = (e_s.mean() * m, e_t.mean() * m)
    val = np_nce(e_s / z[0], m) + np_nce(e_t / z[1], m)
    bank_s, bank_t = bank_s.copy(), bank_t.copy()
    for i, row in enumerate(cidx[:, 0]):
        bank_s[row] = _np_norm(mom * bank_s[row:row + 1] + (1 - mom) * fs[i])
        bank_t[row] = _np_norm(mom * bank_t[row:row + 1] + (1 - mom) * ft[i])
    return val, z, bank_s, bank_t


def _banks(loss):
    return (loss.memory.bank_s.double().numpy().copy(),
            loss.memory.bank_t.double().numpy().copy())


def _data(n, ds, dt, m, k, seed):
    g = torch.Generator().manual_seed(seed)
    xs, xt = torch.randn(n, ds, generator=g), torch.randn(n, dt, generator=g)
    idx = torch.randperm(m, generator=g)[:n]
    cidx = torch.cat([idx[:, None],
                      torch.randint(m, (n, k), generator=g)], 1)
    return xs, xt, idx, cidx


# ------------------------------------------------------------ tests
@pytest.mark.parametrize('n,ds,dt,fd,m,k,t', [(4, 6, 5, 3, 20, 7, 0.07),
                                             (3, 8, 8, 4, 9, 8, 0.5),
                                             (5, 4, 7, 8, 50, 30, 0.1)])
def test_golden_two_steps(n, ds, dt, fd, m, k, t):
    torch.manual_seed(0)
    loss = CRDLoss(m, ds, dt, fd, nce_k=k, nce_t=t, loss_weight=0.8)
    bs, bt = _banks(loss)
    z = None
    for step in range(2):
        xs, xt, idx, cidx = _data(n, ds, dt, m, k, seed=step)
        ref, z, bs, bt = np_step(loss, xs, xt, cidx.numpy(), bs, bt, z)
        out = loss((xs,), [xt], idx, contrast_idx=cidx)
        np.testing.assert_allclose(out.item(), 0.8 * ref, rtol=2e-5)
        np.testing.assert_allclose(loss.memory.z.numpy(), z, rtol=2e-5)
        np.testing.assert_allclose(_banks(loss)[0], bs, atol=1e-6)
        np.testing.assert_allclose(_banks(loss)[1], bt, atol=1e-6)


def test_nce_loss_golden():
    p = torch.rand(6, 11, dtype=torch.float64, generator=torch.Generator()
                   .manual_seed(1)) * 3
    np.testing.assert_allclose(nce_loss(p, 40).item(), np_nce(p.numpy(), 40),
                               rtol=1e-12)


def test_update_rule_and_untouched_rows():
    torch.manual_seed(0)
    loss = CRDLoss(12, 4, 4, 3, nce_k=5, nce_mom=0.3)
    old_s, _ = _banks(loss)
    xs, xt, _, _ = _data(3, 4, 4, 12, 5, seed=3)
    idx = torch.tensor([2, 7, 2])      # repeated index: the last row wins
    loss(xs, xt, idx)
    f_s = loss.embed(xs, xt)[0].detach().double().numpy()
    new_s, _ = _banks(loss)
    np.testing.assert_allclose(new_s[2], _np_norm(
        0.3 * old_s[2:3] + 0.7 * f_s[2])[0], atol=1e-6)
    np.testing.assert_allclose(new_s[7], _np_norm(
        0.3 * old_s[7:8] + 0.7 * f_s[1])[0], atol=1e-6)
    rest = [i for i in range(12) if i not in (2, 7)]
    np.testing.assert_array_equal(new_s[rest], old_s[rest])


def test_z_fixed_after_first_batch_and_in_state_dict():
    torch.manual_seed(0)
    loss = CRDLoss(30, 4, 4, 3, nce_k=6)
    assert (loss.memory.z < 0).all()
    xs, xt, idx, cidx = _data(4, 4, 4, 30, 6, seed=0)
    loss(xs, xt, idx, contrast_idx=cidx)
    z1 = loss.memory.z.clone()
    assert (z1 > 0).all()
    for seed in (1, 2):
        xs, xt, idx, _ = _data(4, 4, 4, 30, 6, seed=seed)
        loss(xs * 5, xt, idx)
    assert torch.equal(loss.memory.z, z1)
    sd = loss.state_dict()
    assert {'memory.z', 'memory.bank_s', 'memory.bank_t',
            'memory.bank_labels'} <= set(sd)
    torch.manual_seed(1)
    fresh = CRDLoss(30, 4, 4, 3, nce_k=6)
    fresh.load_state_dict(sd)
    assert fresh.memory.z_ready and torch.equal(fresh.memory.z, z1)
    fresh(xs, xt, idx)
    assert torch.equal(fresh.memory.z, z1)


def test_gradients():
    torch.manual_seed(0)
    loss = CRDLoss(16, 5, 6, 4, nce_k=8)
    xs = torch.randn(4, 5, requires_grad=True)
    xt = torch.randn(4, 6, requires_grad=True)
    loss((xs,), (xt,), torch.arange(4)).backward()
    assert xs.grad is not None and xs.grad.abs().sum() > 0
    assert loss.embed_s.weight.grad.abs().sum() > 0
    assert loss.embed_t.weight.grad.abs().sum() > 0   # official: trained
    assert xt.grad is None


def test_extreme_inputs_finite_and_defaults():
    torch.manual_seed(0)
    loss = _build(dict(type='CRDLoss', num_samples=100))
    assert (loss.nce_k, loss.nce_t, loss.nce_mom, loss.loss_weight,
            loss.memory.bank_s.shape) == (99, 0.07, 0.5, 0.8, (100, 128))
    xs = torch.full((3, 512), 1e4, requires_grad=True)
    xt = -torch.full((3, 512), 1e4)
    out = loss(xs, xt, torch.tensor([0, 5, 9]), torch.tensor([1, 2, 1]))
    out.backward()
    assert torch.isfinite(out) and torch.isfinite(xs.grad).all()
    assert loss.memory.bank_labels[[0, 5, 9]].tolist() == [1, 2, 1]


def test_sample_negatives():
    g = torch.Generator().manual_seed(0)
    pos = torch.tensor([0, 3, 5])
    bank_labels = torch.tensor([0, 0, 1, 1, -1, 0])
    labels = torch.tensor([0, 1, 0])
    a = sample_negatives(pos, 200, 6, labels, bank_labels, generator=g)
    b = sample_negatives(pos, 200, 6, labels, bank_labels,
                         generator=torch.Generator().manual_seed(0))
    assert torch.equal(a, b) and a.shape == (3, 201)
    assert torch.equal(a[:, 0], pos) and (a[:, 1:] != pos[:, None]).all()
    assert (bank_labels[a[:, 1:]] != labels[:, None]).all()
    assert set(a[1, 1:].tolist()) == {0, 1, 2, 4, 5} - {2, 3}  # unseen ok
    c = sample_negatives(pos, 50, 6, generator=g)
    assert (c[:, 1:] != pos[:, None]).all() and c.max() < 6


def test_bad_arguments():
    loss = CRDLoss()
    with pytest.raises(ValueError, match='num_samples.*len\\(train dataset'):
        loss(torch.randn(2, 512), torch.randn(2, 512), torch.arange(2))
    for kw in (dict(num_samples=1), dict(num_samples=10, feat_dim=0),
               dict(num_samples=10, nce_k=0), dict(num_samples=10, nce_t=0),
               dict(num_samples=10, nce_mom=1.0),
               dict(num_samples=10.0)):
        with pytest.raises(ValueError, match='CRDLoss'):
            CRDLoss(**kw)
    loss = CRDLoss(10, 4, 4, 3, nce_k=4)
    x = torch.randn(2, 4)
    with pytest.raises(ValueError, match='num_samples=10'):
        loss(x, x, torch.tensor([1, 10]))
    with pytest.raises(ValueError, match='contrast_idx'):
        loss(x, x, torch.tensor([1, 2]), contrast_idx=torch.tensor([[1], [2]]))


# ------------------------------------------------------------ DDP
_SIZES = (3, 2)  # unequal per-rank batches; index 4 appears on both ranks


def _global_batch():
    xs, xt, _, cidx = _data(5, 4, 4, 16, 6, seed=7)
    idx = torch.tensor([4, 1, 9, 12, 4])
    cidx[:, 0] = idx
    return xs, xt, idx, torch.tensor([0, 1, 2, 0, 3]), cidx


def _ddp_worker(rank, store, out_dir):
    torch.set_num_threads(1)
    dist.init_process_group('gloo', init_method=f'file://{store}',
                            rank=rank, world_size=2)
    torch.manual_seed(0)
    loss = CRDLoss(16, 4, 4, 3, nce_k=6)
    if rank == 1:   # a different init: rank 0's banks must win
        loss.memory.bank_s.normal_()
    xs, xt, idx, y, cidx = _global_batch()
    sl = slice(0, 3) if rank == 0 else slice(3, 5)
    for step in range(3):
        c = cidx[sl] if step == 0 else None
        loss(xs[sl] + step, xt[sl] - step, idx[sl], y[sl], contrast_idx=c)
    torch.save({k: v.clone() for k, v in loss.memory.state_dict().items()},
               os.path.join(out_dir, f'rank{rank}.pth'))
    dist.destroy_process_group()


def test_ddp_banks_identical_and_match_single_process(tmp_path):
    # fork: the children reuse the imported modules (a spawn re-imports
    # mmpretrain in each child, which takes many seconds)
    mp.start_processes(_ddp_worker, nprocs=2, join=True, start_method='fork',
                       args=(str(tmp_path / 'store'), str(tmp_path)))
    r0, r1 = (torch.load(tmp_path / f'rank{r}.pth') for r in (0, 1))
    torch.manual_seed(0)
    single = CRDLoss(16, 4, 4, 3, nce_k=6)
    xs, xt, idx, y, cidx = _global_batch()
    for step in range(3):
        c = cidx if step == 0 else None
        single(xs + step, xt - step, idx, y, contrast_idx=c)
    for key, ref in single.memory.state_dict().items():
        assert torch.equal(r0[key], r1[key]), key
        torch.testing.assert_close(r0[key], ref, rtol=1e-6, atol=1e-6)
    assert r0['bank_labels'][4] == 3   # the later rank's row wins
