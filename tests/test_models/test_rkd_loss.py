import itertools

import numpy as np
import pytest
import torch
from mmpretrain.registry import MODELS

from mmrskd.models.losses.rkd_loss import RKDLoss, rkd_loss


# ------------------------------------------- float64 numpy reference
def huber(x):
    x = np.abs(x)
    return np.where(x <= 1, 0.5 * x**2, x - 0.5)


def np_distance_term(s, t):
    """Paper's psi_D over the pairs i != j (mu: their mean distance);
    code's reduction: sum / N^2 (the i = i pairs add 0)."""
    n = len(s)

    def psi(e):
        d = {(i, j): np.linalg.norm(e[i] - e[j])
             for i, j in itertools.permutations(range(n), 2)}
        mu = np.mean(list(d.values()))
        return {k: v / mu for k, v in d.items()}

    ps, pt = psi(s), psi(t)
    return sum(huber(ps[k] - pt[k]) for k in ps) / n**2


def np_angle_term(s, t):
    """Paper's psi_A = cos of the angle at e_j of the triangle (e_i, e_j,
    e_k), distinct triplets; code's reduction: sum / N^3 (the degenerate
    triples agree between student and teacher and add 0)."""
    n = len(s)

    def cos(e, i, j, k):
        u, v = e[i] - e[j], e[k] - e[j]
        return u @ v / (np.linalg.norm(u) * np.linalg.norm(v))

    return sum(huber(cos(s, i, j, k) - cos(t, i, j, k))
               for i, j, k in itertools.permutations(range(n), 3)) / n**3


def np_rkd(s, t, wd=25.0, wa=50.0):
    return wd * np_distance_term(s, t) + wa * np_angle_term(s, t)


def _embed(n, d, seed, scale=1.0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g, dtype=dtype) * scale


def _orthogonal(d, seed):
    q, _ = torch.linalg.qr(_embed(d, d, seed))
    return q


@pytest.mark.parametrize('n,ds,dt,scale', [(3, 4, 4, 1.0), (5, 3, 7, 2.0),
                                           (6, 8, 2, 0.5), (4, 5, 5, 0.05)])
def test_matches_reference(n, ds, dt, scale):
    s, t = _embed(n, ds, n, scale), _embed(n, dt, n + 100)
    s_np, t_np = s.numpy(), t.numpy()
    loss_d, loss_a = rkd_loss(s, t)
    assert loss_d.item() == pytest.approx(25 * np_distance_term(s_np, t_np),
                                          rel=1e-9)
    assert loss_a.item() == pytest.approx(50 * np_angle_term(s_np, t_np),
                                          rel=1e-9)
    got = RKDLoss(distance_weight=2.0, angle_weight=3.0, loss_weight=0.5)
    assert got(s, t).item() == pytest.approx(
        0.5 * np_rkd(s_np, t_np, 2.0, 3.0), rel=1e-9)


def test_huber_linear_branch_is_used():
    # an outlier pair makes |psi_s - psi_t| > 1 (the linear branch)
    s = _embed(5, 3, 1)
    s[0] += 40
    t = _embed(5, 3, 2)
    assert RKDLoss()(s, t).item() == pytest.approx(
        np_rkd(s.numpy(), t.numpy()), rel=1e-9)


def test_hand_computed_distance_term():
    # student on a line at 0, 1, 2: distances 1, 2, 1 (mean 4/3) -> psi
    # .75, 1.5, .75; teacher equilateral: psi 1 everywhere
    s = torch.tensor([[0.0], [1.0], [2.0]], dtype=torch.float64)
    t = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.5, np.sqrt(0.75)]],
                     dtype=torch.float64)
    expect = 2 * (2 * 0.5 * 0.25**2 + 0.5 * 0.5**2) / 9
    loss = RKDLoss(distance_weight=1.0, angle_weight=0.0)
    assert loss(s, t).item() == pytest.approx(expect, rel=1e-12)


def test_scale_invariance_of_either_embedding():
    s, t = _embed(6, 5, 3), _embed(6, 4, 4)
    for wd, wa in ((1.0, 0.0), (0.0, 1.0), (25.0, 50.0)):
        loss = RKDLoss(distance_weight=wd, angle_weight=wa)
        base = loss(s, t).item()
        assert base > 0
        for c in (0.01, 3.0, 100.0):
            assert loss(c * s, t).item() == pytest.approx(base, rel=1e-9)
            assert loss(s, c * t).item() == pytest.approx(base, rel=1e-9)


def test_rotation_and_translation_invariance():
    s, t = _embed(6, 5, 5), _embed(6, 4, 6)
    for wd, wa in ((1.0, 0.0), (0.0, 1.0)):
        loss = RKDLoss(distance_weight=wd, angle_weight=wa)
        base = loss(s, t).item()
        assert loss(s @ _orthogonal(5, 7), t).item() == pytest.approx(
            base, rel=1e-9)
        assert loss(s, t @ _orthogonal(4, 8) + 3.0).item() == pytest.approx(
            base, rel=1e-9)
    # teacher = rotated, scaled, shifted student: same relations, loss 0
    assert RKDLoss()(s, 4 * s @ _orthogonal(5, 9) - 1).item() == \
        pytest.approx(0, abs=1e-12)


def test_maps_pooled_or_flattened_and_tuples():
    g = torch.Generator().manual_seed(10)
    fs = torch.randn(4, 3, 2, 2, generator=g, dtype=torch.float64)
    ft = torch.randn(4, 6, 2, 2, generator=g, dtype=torch.float64)
    loss = RKDLoss()
    pooled = loss(fs.mean((2, 3)), ft.mean((2, 3))).item()
    assert loss(fs, ft).item() == pytest.approx(pooled, rel=1e-12)
    assert loss((fs.mean((2, 3)), ), [ft, ft.mean((2, 3))]).item() == \
        pytest.approx(pooled, rel=1e-12)
    flat = RKDLoss(pool=False)(fs, ft).item()
    assert flat == pytest.approx(
        np_rkd(fs.flatten(1).numpy(), ft.flatten(1).numpy()), rel=1e-9)
    assert flat != pytest.approx(pooled, rel=1e-3)


def test_gradients_reach_student_never_teacher():
    s = _embed(5, 4, 11).float().requires_grad_()
    t = _embed(5, 6, 12).float().requires_grad_()
    RKDLoss()(s, t).backward()
    assert s.grad is not None and s.grad.abs().sum() > 0
    assert t.grad is None


def test_coincident_and_extreme_embeddings_finite():
    s = _embed(5, 4, 13).float()
    s[1] = s[0]  # a zero distance and zero difference vectors
    s = (s * 1e4).requires_grad_()
    t = torch.zeros(5, 3)  # all teacher points coincide
    out = RKDLoss()(s, t)
    out.backward()
    assert torch.isfinite(out) and torch.isfinite(s.grad).all()


@pytest.mark.parametrize('dtype', [torch.float16, torch.bfloat16])
def test_half_precision(dtype):
    s = _embed(6, 8, 14, 300.0).to(dtype).requires_grad_()
    t = _embed(6, 5, 15).float()
    ref = RKDLoss()(s.detach().double(), t.double()).item()
    out = RKDLoss()(s, t)
    assert out.dtype == torch.float32
    assert out.item() == pytest.approx(ref, rel=1e-4)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        out = RKDLoss()(s, t)
    out.backward()
    assert torch.isfinite(out) and torch.isfinite(s.grad).all()


def test_single_sample_has_no_relation():
    s = torch.randn(1, 4, requires_grad=True)
    out = RKDLoss()(s, torch.randn(1, 3))
    out.backward()
    assert out.item() == 0 and torch.equal(s.grad, torch.zeros(1, 4))


def test_builds_from_registry_with_defaults():
    loss = MODELS.build(dict(type='RKDLoss'))
    assert (loss.distance_weight, loss.angle_weight, loss.loss_weight,
            loss.pool) == (25.0, 50.0, 1.0, True)


def test_bad_arguments_and_inputs():
    with pytest.raises(ValueError, match='RKDLoss: angle_weight must be >= '
                       '0, got -1'):
        RKDLoss(angle_weight=-1)
    with pytest.raises(ValueError, match='RKDLoss: batch sizes differ, 3'):
        RKDLoss()(torch.randn(3, 4), torch.randn(4, 4))
    with pytest.raises(ValueError, match=r'RKDLoss: inputs must be \(N, D\)'):
        RKDLoss()(torch.randn(3), torch.randn(3))
