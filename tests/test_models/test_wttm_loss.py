"""Tests of TTM / WTTM (Zheng & Yang, ICLR 2024) against a float64 numpy
reference written from the paper's equations."""
import math

import numpy as np
import pytest
import torch
from mmpretrain.registry import MODELS

from mmrskd.models.losses.kd_loss import kd_loss
from mmrskd.models.losses.wttm_loss import WTTMLoss, wttm_loss


# ------------------------------------------------------ numpy reference
def _softmax(z):
    z = np.asarray(z, np.float64)
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)

def _build(cfg):
    """Build from mmpretrain's registry whatever default scope an earlier
    test left (a detection test leaves 'mmdet')."""
    with MODELS.switch_scope_and_registry('mmpretrain') as registry:
        return registry.build(cfg)



def ref_terms(zs, zt, gamma):
    """Per-sample ``(U_gamma(p_t), KL(p_t^gamma / U || softmax(zs)))``."""
    powered = _softmax(zt) ** gamma
    u = powered.sum(-1)
    target = powered / u[:, None]
    q = _softmax(zs)
    kl = np.sum(target * (np.log(target) - np.log(q)), axis=-1)
    return u, kl


def ref_wttm(zs, zt, gamma, weighted, beta=1.0):
    u, kl = ref_terms(zs, zt, gamma)
    return beta * float(np.mean(u * kl if weighted else kl))


def _batch(n=6, c=5, seed=0, scale=3.0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    zs = torch.randn(n, c, generator=g, dtype=torch.float64) * scale
    zt = torch.randn(n, c, generator=g, dtype=torch.float64) * scale
    return zs.to(dtype), zt.to(dtype), torch.randint(0, c, (n, ),
                                                     generator=g)


# --------------------------------------------------------------- golden
@pytest.mark.parametrize('n,c', [(1, 2), (6, 5), (16, 100)])
def test_matches_reference(n, c):
    zs, zt, y = _batch(n, c, seed=n + c)
    for gamma in (0.1, 0.25, 0.5, 1.0, 2.0):
        for weighted in (True, False):
            ref = ref_wttm(zs.numpy(), zt.numpy(), gamma, weighted)
            got = wttm_loss(zs, zt, gamma, weighted).item()
            assert got == pytest.approx(ref, rel=1e-9)
            loss = WTTMLoss(gamma=gamma, weighted=weighted, loss_weight=2.5)
            assert loss(zs, zt, y).item() == pytest.approx(2.5 * ref,
                                                           rel=1e-9)
    # the weight changes the value unless gamma = 1 (U = 1)
    assert wttm_loss(zs, zt, 0.2, True).item() > \
        1.5 * wttm_loss(zs, zt, 0.2, False).item()


def test_float32_matches_reference():
    zs, zt, y = _batch(8, 10, seed=3, dtype=torch.float32)
    for weighted in (True, False):
        ref = ref_wttm(zs.double().numpy(), zt.double().numpy(), 0.2,
                       weighted)
        got = wttm_loss(zs, zt, 0.2, weighted)
        assert got.dtype == torch.float32
        assert got.item() == pytest.approx(ref, rel=1e-5)


def test_hand_computed_two_classes():
    # p_t = [.75, .25], gamma = .5 -> p^g = [sqrt(.75), .5], q_s = [.5, .5]
    zs = torch.tensor([[0., 0.]], dtype=torch.float64)
    zt = torch.tensor([[math.log(3.0), 0.]], dtype=torch.float64)
    u = math.sqrt(0.75) + 0.5
    a, b = math.sqrt(0.75) / u, 0.5 / u
    kl = a * math.log(a / 0.5) + b * math.log(b / 0.5)
    assert wttm_loss(zs, zt, 0.5, False).item() == pytest.approx(kl)
    assert wttm_loss(zs, zt, 0.5, True).item() == pytest.approx(u * kl)


def test_defaults_and_registry():
    loss = _build(dict(type='WTTMLoss'))
    assert isinstance(loss, WTTMLoss)
    assert (loss.gamma, loss.weighted, loss.loss_weight) == (0.2, True, 4.0)
    zs, zt, y = _batch(seed=5)
    assert loss(zs, zt, y).item() == pytest.approx(
        ref_wttm(zs.numpy(), zt.numpy(), 0.2, True, 4.0), rel=1e-9)


def test_temperature_is_inverse_gamma():
    zs, zt, y = _batch(seed=6)
    a = WTTMLoss(temperature=4.0)(zs, zt, y)
    b = WTTMLoss(gamma=0.25)(zs, zt, y)
    assert a.item() == pytest.approx(b.item(), rel=1e-12)
    assert WTTMLoss(temperature=5.0).gamma == pytest.approx(0.2)


# ----------------------------------------------------------- identities
@pytest.mark.parametrize('seed', [0, 1, 2])
def test_gamma_one_ttm_is_kd_at_t1(seed):
    zs, zt, _ = _batch(10, 7, seed=seed)
    kd = kd_loss(zs, zt, temperature=1.0).item()
    assert wttm_loss(zs, zt, 1.0, False).item() == pytest.approx(kd,
                                                                 rel=1e-10)
    # U_1(p) = sum p = 1: the weight vanishes at gamma = 1
    assert wttm_loss(zs, zt, 1.0, True).item() == pytest.approx(kd,
                                                                rel=1e-10)


@pytest.mark.parametrize('t', [2.0, 4.0, 10.0])
def test_ttm_is_kd_without_student_temperature(t):
    # p_t^(1/T) / U = softmax(zt / T): TTM = KL(softmax(zt/T) || softmax(zs))
    zs, zt, _ = _batch(8, 9, seed=7)
    expect = kd_loss(zs, zt / t, temperature=1.0).item()
    assert wttm_loss(zs, zt, 1 / t, False).item() == pytest.approx(
        expect, rel=1e-10)


def test_weight_is_power_sum_per_sample_and_bounded():
    zs, zt, _ = _batch(12, 6, seed=8)
    gamma = 0.3
    for i in range(len(zs)):  # per sample, not only on average
        sl = slice(i, i + 1)
        w = wttm_loss(zs[sl], zt[sl], gamma, True)
        u = wttm_loss(zs[sl], zt[sl], gamma, False)
        power_sum = (torch.softmax(zt[sl], 1) ** gamma).sum().item()
        assert (w / u).item() == pytest.approx(power_sum, rel=1e-10)
        assert 1.0 <= power_sum <= 6 ** (1 - gamma)
    # uniform teacher: U = C^(1 - gamma), the upper bound
    flat = torch.zeros(1, 6, dtype=torch.float64)
    ratio = wttm_loss(zs[:1], flat, gamma, True) / wttm_loss(
        zs[:1], flat, gamma, False)
    assert ratio.item() == pytest.approx(6 ** (1 - gamma), rel=1e-12)


def test_zero_when_student_matches_transformed_teacher():
    _, zt, _ = _batch(5, 8, seed=9)
    for gamma in (0.2, 1.0, 3.0):
        zs = gamma * zt + 7.0  # softmax is shift invariant
        for weighted in (True, False):
            assert abs(wttm_loss(zs, zt, gamma, weighted).item()) < 1e-12


def test_batch_reduction_is_mean_of_weighted_samples():
    zs, zt, _ = _batch(9, 5, seed=10)
    per = [wttm_loss(zs[i:i + 1], zt[i:i + 1], 0.2).item()
           for i in range(9)]
    assert wttm_loss(zs, zt, 0.2).item() == pytest.approx(np.mean(per),
                                                          rel=1e-12)
    # weights are not renormalised over the batch: duplicating a batch
    # leaves the loss unchanged, and a sample's term does not depend on
    # the others
    twice = wttm_loss(torch.cat([zs, zs]), torch.cat([zt, zt]), 0.2)
    assert twice.item() == pytest.approx(np.mean(per), rel=1e-12)


def test_labels_hard_soft_or_none_are_ignored():
    zs, zt, y = _batch(seed=11)
    soft = torch.nn.functional.one_hot(y, 5).double() * 0.6 + 0.08
    loss = WTTMLoss()
    ref = loss(zs, zt, y).item()
    assert loss(zs, zt, soft).item() == ref
    assert loss(zs, zt).item() == ref
    assert loss(zs, zt, torch.flip(y, [0])).item() == ref


# ------------------------------------------------------------ gradients
def test_gradient_reaches_student_only_and_matches_formula():
    zs, zt, y = _batch(6, 5, seed=12)
    zs.requires_grad_(True)
    zt.requires_grad_(True)
    gamma, beta = 0.25, 3.0
    WTTMLoss(gamma=gamma, loss_weight=beta)(zs, zt, y).backward()
    assert zt.grad is None
    # d/dzs of beta/N * sum_i U_i KL_i = beta/N * U_i (softmax(zs_i) - q_i)
    u, _ = ref_terms(zs.detach().numpy(), zt.detach().numpy(), gamma)
    q = _softmax(zt.detach().numpy() * gamma)
    expect = beta / 6 * u[:, None] * (_softmax(zs.detach().numpy()) - q)
    np.testing.assert_allclose(zs.grad.numpy(), expect, rtol=1e-9,
                               atol=1e-12)


# ------------------------------------------------------------- extremes
@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
def test_finite_for_extreme_logits(dtype):
    g = torch.Generator().manual_seed(14)
    zs = (torch.randint(0, 2, (4, 10), generator=g) * 2 - 1).to(dtype) * 1e4
    zt = (torch.randint(0, 2, (4, 10), generator=g) * 2 - 1).to(dtype) * 1e4
    zs.requires_grad_(True)
    for gamma in (0.05, 0.2, 1.0, 4.0):
        for weighted in (True, False):
            loss = WTTMLoss(gamma=gamma, weighted=weighted)(zs, zt)
            grad, = torch.autograd.grad(loss, zs)
            assert torch.isfinite(loss) and torch.isfinite(grad).all()


def test_saturated_teacher_weight_is_one():
    # one-hot teacher: p^gamma / U is the same one-hot and U = 1, so WTTM =
    # TTM = cross-entropy of the student on the teacher's class
    zt = torch.full((3, 6), -1e4, dtype=torch.float64)
    zt[torch.arange(3), torch.tensor([0, 2, 5])] = 1e4
    zs, _, _ = _batch(3, 6, seed=15)
    ce = torch.nn.functional.cross_entropy(zs, torch.tensor([0, 2, 5]))
    for gamma in (0.1, 0.5):
        for weighted in (True, False):
            assert wttm_loss(zs, zt, gamma, weighted).item() == \
                pytest.approx(ce.item(), rel=1e-10)


# ------------------------------------------------------------ bad input
@pytest.mark.parametrize('kwargs,match', [
    (dict(gamma=0.0), 'gamma must be a finite number > 0'),
    (dict(gamma=-0.5), 'gamma must be a finite number > 0'),
    (dict(gamma=float('nan')), 'gamma must be a finite number > 0'),
    (dict(gamma=float('inf')), 'gamma must be a finite number > 0'),
    (dict(temperature=0.0), 'temperature must be a finite number > 0'),
    (dict(temperature=-4.0), 'temperature must be a finite number > 0'),
    (dict(gamma=0.25, temperature=4.0), 'give gamma .* or temperature'),
    (dict(weighted=1), 'weighted must be True'),
    (dict(loss_weight=-1.0), 'loss_weight must be a finite number >= 0'),
    (dict(loss_weight=float('nan')), 'loss_weight must be a finite'),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match='WTTMLoss: ' + match):
        WTTMLoss(**kwargs)


def test_bad_shapes():
    zs, zt, _ = _batch(4, 5)
    with pytest.raises(ValueError, match='wttm_loss: student and teacher'):
        wttm_loss(zs, zt[:, :4])
    with pytest.raises(ValueError, match='must both be \\(N, C\\)'):
        wttm_loss(zs[0], zt[0])
