"""DISTLoss against an independent float64 numpy reference of the paper's
equations (Huang et al., NeurIPS 2022, Eqs. for L_inter / L_intra), with
the official code's ``+ 1e-8`` in the Pearson denominator."""
import math

import numpy as np
import pytest
import torch
from mmpretrain.registry import MODELS

from mmrskd.models.losses.dist_loss import (DISTLoss, dist_loss, dist_terms,
                                            pearson_rows)


# ------------------------------------------------------ numpy reference
def _np_softmax(z, t):
    z = np.asarray(z, np.float64) / t
    e = np.exp(z - z.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)

def _build(cfg):
    """Build from mmpretrain's registry whatever default scope an earlier
    test left (a detection test leaves 'mmdet')."""
    with MODELS.switch_scope_and_registry('mmpretrain') as registry:
        return registry.build(cfg)



def _np_pearson(u, v, eps=1e-8):
    u = np.asarray(u, np.float64) - np.mean(u)
    v = np.asarray(v, np.float64) - np.mean(v)
    return float(np.dot(u, v) / (math.sqrt(np.dot(u, u)) *
                                 math.sqrt(np.dot(v, v)) + eps))


def _np_terms(zs, zt, t):
    ps, pt = _np_softmax(zs, t), _np_softmax(zt, t)
    n, c = ps.shape
    inter = 1 - sum(_np_pearson(ps[i], pt[i]) for i in range(n)) / n
    intra = 1 - sum(_np_pearson(ps[:, j], pt[:, j]) for j in range(c)) / c
    return inter, intra


def _np_dist(zs, zt, beta, gamma, t):
    inter, intra = _np_terms(zs, zt, t)
    return t * t * (beta * inter + gamma * intra)


def _batch(n=8, c=5, seed=0, scale=3.0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    zs = torch.randn(n, c, generator=g, dtype=dtype) * scale
    zt = torch.randn(n, c, generator=g, dtype=dtype) * scale
    return zs, zt, torch.randint(0, c, (n, ), generator=g)


# --------------------------------------------------------------- golden
@pytest.mark.parametrize('n,c', [(8, 5), (3, 2), (16, 100), (2, 7)])
@pytest.mark.parametrize('t', [1.0, 4.0, 0.5])
def test_matches_numpy_reference(n, c, t):
    zs, zt, y = _batch(n, c, seed=n * c)
    inter, intra = dist_terms(zs, zt, t)
    ref_inter, ref_intra = _np_terms(zs.numpy(), zt.numpy(), t)
    assert inter.item() == pytest.approx(ref_inter, rel=1e-10, abs=1e-12)
    assert intra.item() == pytest.approx(ref_intra, rel=1e-10, abs=1e-12)
    for beta, gamma, w in ((1.0, 1.0, 1.0), (2.0, 0.5, 3.0), (0.0, 1.0, 1.0)):
        got = DISTLoss(beta, gamma, t, loss_weight=w)(zs, zt, y)
        ref = w * _np_dist(zs.numpy(), zt.numpy(), beta, gamma, t)
        assert got.item() == pytest.approx(ref, rel=1e-10)


def test_float32_close_to_reference():
    zs, zt, y = _batch(32, 10, seed=3, dtype=torch.float32)
    ref = _np_dist(zs.numpy(), zt.numpy(), 1.0, 1.0, 4.0)
    assert DISTLoss(temperature=4.0)(zs, zt, y).item() == pytest.approx(
        ref, rel=1e-5)


def test_pearson_without_eps_is_numpy_corrcoef():
    # the eps changes rho by a relative ~1e-8 only on well-spread inputs
    g = torch.Generator().manual_seed(1)
    a = torch.randn(6, 9, generator=g, dtype=torch.float64)
    b = torch.randn(6, 9, generator=g, dtype=torch.float64)
    ref = [np.corrcoef(a[i].numpy(), b[i].numpy())[0, 1] for i in range(6)]
    assert np.allclose(pearson_rows(a, b).numpy(), ref, rtol=1e-7, atol=0)
    assert np.allclose(pearson_rows(a, b, eps=0.0).numpy(), ref, rtol=1e-12)


def test_defaults_are_official_and_registered():
    loss = _build(dict(type='DISTLoss'))
    assert isinstance(loss, DISTLoss)
    assert (loss.beta, loss.gamma, loss.temperature, loss.loss_weight) == (
        1.0, 1.0, 1.0, 1.0)
    zs, zt, _ = _batch()
    assert loss(zs, zt).item() == pytest.approx(
        dist_loss(zs, zt).item(), rel=1e-12)


# ------------------------------------------------------------ identities
def test_affine_student_rows_give_zero_inter_term():
    # p_s = a_i * p_t + (1 - a_i) / C is a distribution for a_i in (0, 1]
    # and is a positive affine map of each teacher row: rho = 1 per row.
    zs, zt, _ = _batch(10, 6, seed=4)
    for t in (1.0, 3.0):
        p_t = torch.softmax(zt / t, 1)
        a = torch.linspace(0.2, 1.0, 10, dtype=torch.float64)[:, None]
        p_s = a * p_t + (1 - a) / 6
        inter, intra = dist_terms(t * p_s.log(), zt, t)  # softmax(log p) = p
        assert inter.item() == pytest.approx(0.0, abs=1e-6)
        assert intra.item() > 1e-3  # per-row a_i breaks the column relation
        # one a for every row is also affine per column: both terms vanish
        same = dist_terms(t * (0.3 * p_t + 0.7 / 6).log(), zt, t)
        assert max(abs(same[0].item()), abs(same[1].item())) < 1e-6


def _loss_no_eps(zs, zt, beta, gamma, t):
    inter, intra = dist_terms(zs, zt, t, eps=0.0)
    return t * t * (beta * inter + gamma * intra)


def test_student_equal_to_teacher_is_zero():
    zs, zt, y = _batch(seed=5)
    assert _loss_no_eps(zt, zt, 1.0, 1.0, 4.0).item() == pytest.approx(
        0.0, abs=1e-12)
    # the official eps only lowers |rho| by a relative eps / (|u| |v|)
    got = DISTLoss(temperature=4.0)(zt, zt, y).item()
    assert 0.0 < got < 1e-4


@pytest.mark.parametrize('t', [1.0, 4.0])
def test_two_class_flip_is_anticorrelated(t):
    # C = 2: softmax(-z) = 1 - softmax(z), so every row and column has
    # rho = -1 and both distances are 2: loss = t^2 (2 beta + 2 gamma).
    zs, zt, y = _batch(6, 2, seed=6)
    assert _loss_no_eps(-zt, zt, 1.5, 0.5, t).item() == pytest.approx(
        t * t * (2 * 1.5 + 2 * 0.5), rel=1e-12)
    got = DISTLoss(beta=1.5, gamma=0.5, temperature=t)(-zt, zt, y)
    assert got.item() == pytest.approx(t * t * 4, rel=1e-5)


def test_inter_term_is_a_mean_over_samples():
    za, zta, _ = _batch(5, 7, seed=7)
    zb, ztb, _ = _batch(5, 7, seed=8)
    both = dist_terms(torch.cat([za, zb]), torch.cat([zta, ztb]), 2.0)[0]
    parts = (dist_terms(za, zta, 2.0)[0] + dist_terms(zb, ztb, 2.0)[0]) / 2
    assert both.item() == pytest.approx(parts.item(), rel=1e-12)
    # repeating the batch leaves both terms (means of correlations) unchanged
    a = _loss_no_eps(za, zta, 1.0, 1.0, 2.0)
    b = _loss_no_eps(za.repeat(3, 1), zta.repeat(3, 1), 1.0, 1.0, 2.0)
    assert b.item() == pytest.approx(a.item(), rel=1e-12)
    b_eps = dist_loss(za.repeat(3, 1), zta.repeat(3, 1), 1.0, 1.0, 2.0)
    assert b_eps.item() == pytest.approx(a.item(), rel=1e-6)


def test_single_sample_intra_term_is_one():
    zs, zt, _ = _batch(1, 5, seed=9)
    zs.requires_grad_()
    inter, intra = dist_terms(zs, zt)
    assert intra.item() == 1.0  # every column is constant: rho = 0 by eps
    intra.backward()
    assert torch.equal(zs.grad, torch.zeros_like(zs))


# ------------------------------------------------ gradients and numerics
def test_gradients_reach_student_never_teacher():
    zs, zt, y = _batch(dtype=torch.float32)
    zs.requires_grad_()
    zt.requires_grad_()
    DISTLoss(temperature=4.0)(zs, zt, y).backward()
    assert zs.grad is not None and zs.grad.abs().sum() > 0
    assert zt.grad is None


def test_gradcheck_student():
    zs, zt, _ = _batch(3, 3, seed=10)
    zs.requires_grad_()
    assert torch.autograd.gradcheck(
        lambda z: dist_loss(z, zt, 2.0, 0.5, 3.0), (zs, ))


@pytest.mark.parametrize('c', [2, 10])
@pytest.mark.parametrize('t', [1.0, 4.0])
def test_finite_for_extreme_logits(c, t):
    g = torch.Generator().manual_seed(c)
    zs = (torch.randint(0, 2, (8, c), generator=g).float() * 2 - 1) * 1e4
    zt = (torch.randint(0, 2, (8, c), generator=g).float() * 2 - 1) * 1e4
    zt[0] = 0.0  # a uniform teacher row: its correlation is 0 by the eps
    zs.requires_grad_()
    out = DISTLoss(temperature=t)(zs, zt)
    out.backward()
    assert torch.isfinite(out) and torch.isfinite(zs.grad).all()
    assert 0.0 <= out.item() <= t * t * 4 + 1e-4  # each distance in [0, 2]


def test_saturated_teacher_matches_reference():
    zs, _, y = _batch(6, 4, seed=11, dtype=torch.float32)
    zt = torch.nn.functional.one_hot(y, 4).float() * 1e4  # exact one-hot p
    zs.requires_grad_()
    out = dist_loss(zs, zt)
    out.backward()
    ref = _np_dist(zs.detach().numpy(), zt.numpy(), 1.0, 1.0, 1.0)
    assert out.item() == pytest.approx(ref, rel=1e-5)
    assert torch.isfinite(zs.grad).all() and zs.grad.abs().sum() > 0


# --------------------------------------------------------- bad arguments
@pytest.mark.parametrize('kwargs,name', [
    (dict(temperature=0.0), 'temperature'),
    (dict(temperature=-1.0), 'temperature'),
    (dict(temperature=float('inf')), 'temperature'),
    (dict(beta=-0.1), 'beta'), (dict(gamma=float('nan')), 'gamma'),
    (dict(loss_weight=-2.0), 'loss_weight')])
def test_bad_arguments(kwargs, name):
    with pytest.raises(ValueError, match=f'DISTLoss: {name} must be'):
        DISTLoss(**kwargs)


@pytest.mark.parametrize('shape_s,shape_t', [
    ((4, 5), (4, 6)), ((4, 5), (3, 5)), ((2, 5, 3, 3), (2, 5, 3, 3)),
    ((5, ), (5, ))])
def test_bad_shapes(shape_s, shape_t):
    with pytest.raises(ValueError, match=r'DISTLoss: expects .* \(N, C\)'):
        DISTLoss()(torch.randn(shape_s), torch.randn(shape_t))
