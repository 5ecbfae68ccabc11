import numpy as np
import pytest
import torch
from mmpretrain.registry import MODELS

from mmrskd.models.losses.nkd_loss import NKDLoss, nkd_loss


# ------------------------------------------- float64 numpy reference
def _softmax(z, t=1.0):
    z = np.asarray(z, np.float64) / t
    e = np.exp(z - z.max())
    return e / e.sum()

def _build(cfg):
    """Build from mmpretrain's registry whatever default scope an earlier
    test left (a detection test leaves 'mmdet')."""
    with MODELS.switch_scope_and_registry('mmpretrain') as registry:
        return registry.build(cfg)



def _nkd_ref(zs, zt, y, tau, gamma):
    """Paper Eq.: -T_t log S_t - gamma tau^2 sum_{j!=t} N(T_j) log N(S_j),
    N(P_j) = P_j^tau / (1 - P_t^tau), averaged over the batch."""
    vals = []
    for a, b, t in zip(zs, zt, y):
        s1, t1 = _softmax(a), _softmax(b)
        target = -t1[t] * np.log(s1[t])
        st, tt = _softmax(a, tau), _softmax(b, tau)
        nt = [j for j in range(len(a)) if j != t]
        ns = st[nt] / (1.0 - st[t])
        nt_ = tt[nt] / (1.0 - tt[t])
        vals.append(target - gamma * tau * tau * np.sum(nt_ * np.log(ns)))
    return float(np.mean(vals))


def _batch(n=6, c=5, seed=0, scale=2.0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    zs = (torch.randn(n, c, generator=g, dtype=torch.float64) * scale)
    zt = (torch.randn(n, c, generator=g, dtype=torch.float64) * scale)
    y = torch.randint(0, c, (n, ), generator=g)
    return zs.to(dtype), zt.to(dtype), y


def _non_target(zs, zt, y, tau, gamma):
    """The non-target term alone (the target term does not use gamma)."""
    return (nkd_loss(zs, zt, y, tau, gamma) - nkd_loss(zs, zt, y, tau, 0.0))


# --------------------------------------------------------------- golden
@pytest.mark.parametrize('n,c,seed,tau,gamma', [
    (6, 5, 0, 1.0, 1.5), (16, 10, 1, 3.0, 3.5), (3, 100, 2, 2.0, 1.0),
    (1, 2, 3, 1.0, 1.5), (6, 5, 4, 4.0, 0.0), (16, 10, 5, 0.5, 2.0)])
def test_matches_numpy_reference(n, c, seed, tau, gamma):
    zs, zt, y = _batch(n, c, seed)
    ref = _nkd_ref(zs.numpy(), zt.numpy(), y.numpy(), tau, gamma)
    got = NKDLoss(temperature=tau, gamma=gamma)(zs, zt, y)
    assert got.dim() == 0
    assert got.item() == pytest.approx(ref, rel=1e-9, abs=1e-12)
    weighted = NKDLoss(tau, gamma, loss_weight=2.5)(zs, zt, y)
    assert weighted.item() == pytest.approx(2.5 * ref, rel=1e-9, abs=1e-12)


def test_hand_computed_three_classes():
    # zs = [0, 0, 0]: S_t = 1/3, N(S) = [.5, .5];
    # zt = [ln 2, ln 3, 0], y = 0: T_t = 1/3, N(T) = [.75, .25], tau = 1.
    zs = torch.zeros(1, 3, dtype=torch.float64)
    zt = torch.tensor([[np.log(2.0), np.log(3.0), 0.0]], dtype=torch.float64)
    y = torch.tensor([0])
    expect = -(1 / 3) * np.log(1 / 3) - 1.5 * (0.75 * np.log(0.5)
                                              + 0.25 * np.log(0.5))
    assert nkd_loss(zs, zt, y, 1.0, 1.5).item() == pytest.approx(
        expect, rel=1e-12)


def test_defaults_are_official_imagenet():
    loss = NKDLoss()
    assert (loss.temperature, loss.gamma, loss.loss_weight) == (1.0, 1.5, 1.)
    zs, zt, y = _batch(seed=4)
    ref = _nkd_ref(zs.numpy(), zt.numpy(), y.numpy(), 1.0, 1.5)
    assert loss(zs, zt, y).item() == pytest.approx(ref, rel=1e-9)


def test_registered():
    loss = _build(dict(type='NKDLoss', temperature=3.0, gamma=3.5))
    assert isinstance(loss, NKDLoss) and loss.gamma == 3.5


# ------------------------------------------------------------ identities
@pytest.mark.parametrize('tau', [1.0, 3.0])
def test_student_equal_teacher_gives_entropy_minimum(tau):
    gamma = 1.5
    _, zt, y = _batch(n=8, c=7, seed=5)
    non = _non_target(zt.clone(), zt, y, tau, gamma)
    # cross-entropy: its minimum is the entropy of N(T^tau), not 0
    ent = []
    for b, t in zip(zt.numpy(), y.numpy()):
        p = np.delete(_softmax(b, tau), t)
        p = p / p.sum()
        ent.append(-np.sum(p * np.log(p)))
    assert non.item() == pytest.approx(gamma * tau * tau * np.mean(ent),
                                       rel=1e-9)
    assert non.item() > 0.1
    # it is a minimum: any other student scores higher ...
    g = torch.Generator().manual_seed(6)
    for _ in range(5):
        zs = zt + torch.randn(zt.shape, generator=g, dtype=torch.float64)
        assert _non_target(zs, zt, y, tau, gamma).item() > non.item()
    # ... and a stationary point of the non-target term
    zs = zt.clone().requires_grad_()
    _non_target(zs, zt, y, tau, gamma).backward()
    assert zs.grad.abs().max().item() < 1e-12


def test_non_target_term_ignores_student_target_logit_and_shifts():
    zs, zt, y = _batch(n=5, c=6, seed=7)
    base = _non_target(zs, zt, y, 2.0, 1.5).item()
    moved = zs.clone()
    moved[torch.arange(5), y] += torch.linspace(-5, 5, 5, dtype=zs.dtype)
    assert _non_target(moved, zt, y, 2.0, 1.5).item() == pytest.approx(
        base, rel=1e-12)
    shifted = zs + torch.arange(5, dtype=zs.dtype)[:, None] * 7.0
    assert nkd_loss(shifted, zt, y, 2.0, 1.5).item() == pytest.approx(
        nkd_loss(zs, zt, y, 2.0, 1.5).item(), rel=1e-12)


def test_batch_reduction_is_mean():
    zs, zt, y = _batch(n=6, c=5, seed=8)
    per = torch.stack([nkd_loss(zs[i:i + 1], zt[i:i + 1], y[i:i + 1], 2.0,
                                1.5) for i in range(6)])
    assert nkd_loss(zs, zt, y, 2.0, 1.5).item() == pytest.approx(
        per.mean().item(), rel=1e-12)
    assert per.std().item() > 1e-3  # samples differ: mean != sum, != first


def test_soft_labels_use_argmax():
    zs, zt, y = _batch(n=6, c=5, seed=9)
    soft = torch.nn.functional.one_hot(y, 5).double() * 0.6 + 0.08
    hard = NKDLoss(temperature=2.0)(zs, zt, y)
    assert NKDLoss(temperature=2.0)(zs, zt, soft).item() == pytest.approx(
        hard.item(), rel=1e-12)


# ------------------------------------------------ gradients and numerics
def test_gradients_reach_student_never_teacher():
    zs, zt, y = _batch(dtype=torch.float32)
    zs.requires_grad_()
    zt.requires_grad_()
    NKDLoss(temperature=2.0)(zs, zt, y).backward()
    assert zs.grad is not None and zs.grad.abs().sum() > 0
    assert torch.isfinite(zs.grad).all()
    assert zt.grad is None


def test_extreme_logits_and_saturated_target():
    c, gamma, tau = 6, 1.5, 2.0
    y = torch.tensor([0, 3])
    zs = torch.full((2, c), 1e4)
    zs[torch.arange(2), y] = -1e4  # student puts S_t = exp(-2e4)
    zt = torch.zeros(2, c)
    zt[torch.arange(2), y] = 1e4  # teacher saturated: T_t = 1
    zs.requires_grad_()
    loss = nkd_loss(zs, zt, y, tau, gamma)
    loss.backward()
    # -log S_t = 2e4 + log(c-1); both N(.) uniform -> CE = log(c-1)
    expect = 2e4 + np.log(c - 1) + gamma * tau * tau * np.log(c - 1)
    assert torch.isfinite(loss) and loss.item() == pytest.approx(
        expect, rel=1e-6)
    assert torch.isfinite(zs.grad).all()
    # reversed signs, random extremes
    g = torch.Generator().manual_seed(10)
    for _ in range(3):
        zs = (torch.randint(0, 2, (4, 9), generator=g).float() * 2 - 1) * 1e4
        zt = (torch.randint(0, 2, (4, 9), generator=g).float() * 2 - 1) * 1e4
        zs.requires_grad_()
        loss = NKDLoss(temperature=4.0)(zs, zt, torch.arange(4))
        loss.backward()
        assert torch.isfinite(loss) and torch.isfinite(zs.grad).all()


# ------------------------------------------------------------ bad input
@pytest.mark.parametrize('kwargs,name', [
    (dict(temperature=0.0), 'temperature'),
    (dict(temperature=-1.0), 'temperature'),
    (dict(temperature=float('nan')), 'temperature'),
    (dict(gamma=-0.5), 'gamma'), (dict(gamma=float('inf')), 'gamma'),
    (dict(gamma='1.5'), 'gamma'), (dict(loss_weight=-1.0), 'loss_weight'),
    (dict(temperature=True), 'temperature')])
def test_bad_arguments(kwargs, name):
    with pytest.raises(ValueError, match=f'NKDLoss: {name} must be'):
        NKDLoss(**kwargs)


def test_bad_shapes():
    zs, zt, y = _batch()
    with pytest.raises(ValueError, match='nkd_loss: student and teacher'):
        nkd_loss(zs, zt[:, :4], y)
    with pytest.raises(ValueError, match='at least 2 classes'):
        nkd_loss(zs[:, :1], zt[:, :1], torch.zeros(6, dtype=torch.long))
    with pytest.raises(ValueError, match='Soft labels have 4 classes'):
        nkd_loss(zs, zt, torch.ones(6, 4))
