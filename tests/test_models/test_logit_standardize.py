"""Logit standardization (Sun et al., CVPR 2024) as the ``logit_standardize``
switch of KDLoss, DKDLoss and ISDMLoss. References in float64 numpy."""
import numpy as np
import pytest
import torch
from mmpretrain.registry import MODELS

from mmrskd.models.losses import DKDLoss, ISDMLoss, KDLoss, kd_loss
from mmrskd.models.losses.utils import standardize

from . import golden

def _build(cfg):
    """Build from mmpretrain's registry whatever default scope an earlier
    test left (a detection test leaves 'mmdet')."""
    with MODELS.switch_scope_and_registry('mmpretrain') as registry:
        return registry.build(cfg)



np_standardize = golden.standardize


def _batch(n=6, c=5, seed=0, scale=3.0):
    g = torch.Generator().manual_seed(seed)
    zs = torch.randn(n, c, generator=g, dtype=torch.float64) * scale
    zt = torch.randn(n, c, generator=g, dtype=torch.float64) * scale + 1.0
    y = torch.randint(0, c, (n, ), generator=g)
    return zs, zt, y


LS_LOSSES = [
    (KDLoss, dict(temperature=2.0, loss_weight=9.0)),
    (DKDLoss, dict(alpha=9.0, beta=72.0, temperature=2.0, warmup_epochs=0)),
    (ISDMLoss, dict(temperature=2.0)),
    (ISDMLoss, dict(margin='fixed')),
    (ISDMLoss, dict(use_is=False, use_dm=False))]
IDS = ['kd', 'dkd', 'isdm', 'isdm_fixed', 'isdm_plain']


def _ls_loss(idx):
    cls, kwargs = LS_LOSSES[idx]
    return cls(logit_standardize=True, **kwargs)


# ------------------------------------------------------------ standardize
@pytest.mark.parametrize('shape', [(3, 2), (6, 5), (4, 45), (2, 3, 7)])
def test_standardize_matches_numpy(shape):
    g = torch.Generator().manual_seed(1)
    z = torch.randn(*shape, generator=g, dtype=torch.float64) * 4 + 2
    got = standardize(z)
    assert np.allclose(got.numpy(), np_standardize(z.numpy()), rtol=1e-12,
                       atol=1e-12)
    # zero mean, unbiased std 1 (up to eps) along the classes
    assert torch.allclose(got.mean(-1), torch.zeros(shape[:-1],
                                                    dtype=torch.float64),
                          atol=1e-12)
    assert torch.allclose(got.std(-1), torch.ones(shape[:-1],
                                                  dtype=torch.float64),
                          rtol=1e-6)
    big = standardize(z, eps=0.5)
    assert np.allclose(big.numpy(), np_standardize(z.numpy(), 0.5),
                       rtol=1e-12)


def test_standardize_hand_computed():
    # [1, 2, 3]: mean 2, unbiased std 1 -> [-1, 0, 1]
    z = torch.tensor([[1., 2., 3.]], dtype=torch.float64)
    assert torch.allclose(standardize(z, eps=0.0),
                          torch.tensor([[-1., 0., 1.]], dtype=torch.float64))


def test_standardize_constant_rows_and_half_precision():
    z = torch.full((3, 6), 7.25, requires_grad=True)
    out = standardize(z)
    assert torch.equal(out, torch.zeros(3, 6))
    (out * torch.randn(3, 6)).sum().backward()
    assert torch.isfinite(z.grad).all()
    h = (torch.randn(4, 10) * 300).half()  # squares overflow in float16
    out = standardize(h)
    assert out.dtype == torch.float32
    assert np.allclose(out.numpy(), np_standardize(h.float().numpy()),
                       atol=1e-5)


def test_standardize_needs_two_classes():
    with pytest.raises(ValueError, match='standardize: needs at least 2'):
        standardize(torch.randn(4, 1))


def test_standardize_gradcheck():
    z = torch.randn(3, 6, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(standardize, (z, ))


# ----------------------------------------------------------- golden losses
@pytest.mark.parametrize('n,c', [(6, 5), (8, 45), (3, 2)])
@pytest.mark.parametrize('t', [1.0, 2.0, 4.0])
def test_kd_switch_is_kd_on_standardized_logits(n, c, t):
    zs, zt, y = _batch(n, c, seed=c)
    ref = golden.kd(np_standardize(zs.numpy()), np_standardize(zt.numpy()), t)
    got = KDLoss(temperature=t, logit_standardize=True)(zs, zt, y)
    assert got.item() == pytest.approx(ref, rel=1e-9)
    weighted = KDLoss(t, loss_weight=9.0, logit_standardize=True)(zs, zt, y)
    assert weighted.item() == pytest.approx(9.0 * ref, rel=1e-9)
    assert kd_loss(zs, zt, t, logit_standardize=True).item() == \
        pytest.approx(ref, rel=1e-9)


@pytest.mark.parametrize('alpha,beta,t', [(9, 72, 2), (1, 0.5, 1)])
def test_dkd_switch_is_dkd_on_standardized_logits(alpha, beta, t):
    zs, zt, y = _batch(8, 7, seed=3)
    ref = golden.dkd(np_standardize(zs.numpy()), np_standardize(zt.numpy()),
                     y.numpy(), alpha, beta, t)
    got = DKDLoss(alpha, beta, t, warmup_epochs=0,
                  logit_standardize=True)(zs, zt, y)
    assert got.item() == pytest.approx(ref, rel=1e-9)


@pytest.mark.parametrize('kwargs,scale,margin', [
    (dict(), np.ones(6), 'dynamic'),
    (dict(use_is=False, margin='fixed', margin_value=2.0), None, 2.0),
    (dict(use_dm=False), np.ones(6), None)])
def test_isdm_switch_is_isdm_on_standardized_logits(kwargs, scale, margin):
    zs, zt, y = _batch(seed=4)
    ref = golden.isdm(np_standardize(zs.numpy()), np_standardize(zt.numpy()),
                      y.numpy(), 2.0, scale=scale, margin=margin)
    got = ISDMLoss(temperature=2.0, logit_standardize=True, **kwargs)
    assert got(zs, zt, y).item() == pytest.approx(ref, rel=1e-7)


def test_isdm_without_is_and_dm_is_weighted_standardized_kd():
    zs, zt, y = _batch(seed=5)
    got = ISDMLoss(2.0, 4.0, use_is=False, use_dm=False,
                   logit_standardize=True)(zs, zt, y)
    kd = KDLoss(2.0, logit_standardize=True)(zs, zt, y)
    assert got.item() == pytest.approx(4.0 * kd.item(), rel=1e-12)


# ------------------------------------------------------- switch off / on
def test_switch_off_changes_nothing():
    zs, zt, y = _batch(seed=6)
    pairs = [(KDLoss(), KDLoss(logit_standardize=False)),
             (DKDLoss(warmup_epochs=0),
              DKDLoss(warmup_epochs=0, logit_standardize=False)),
             (ISDMLoss(), ISDMLoss(logit_standardize=False))]
    for default, off in pairs:
        assert off.logit_standardize is False
        assert default.logit_standardize is False
        assert torch.equal(default(zs, zt, y), off(zs, zt, y))
    raw = (zs.numpy(), zt.numpy())
    assert KDLoss()(zs, zt, y).item() == pytest.approx(
        golden.kd(*raw, 4.0), rel=1e-9)
    assert DKDLoss(warmup_epochs=0)(zs, zt, y).item() == pytest.approx(
        golden.dkd(*raw, y.numpy(), 1.0, 8.0, 4.0), rel=1e-9)
    assert ISDMLoss()(zs, zt, y).item() == pytest.approx(
        golden.isdm(*raw, y.numpy(), 4.0, np.ones(6), 'dynamic'), rel=1e-7)
    # and the switch does change the value
    assert KDLoss(logit_standardize=True)(zs, zt, y).item() != \
        pytest.approx(KDLoss()(zs, zt, y).item(), rel=1e-3)


def test_switch_from_config():
    loss = _build(dict(type='DKDLoss', logit_standardize=True))
    assert loss.logit_standardize is True
    for name in ('KDLoss', 'DKDLoss', 'ISDMLoss'):
        assert _build(dict(type=name)).logit_standardize is False


@pytest.mark.parametrize('idx', range(5), ids=IDS)
def test_invariant_to_per_sample_shift_and_scale(idx):
    loss = _ls_loss(idx).double()
    zs, zt, y = _batch(n=8, c=6, seed=7)
    g = torch.Generator().manual_seed(8)
    if getattr(loss, 'scaler', None) is not None:  # a scaler that acts
        torch.nn.init.normal_(loss.scaler.net[2].weight, generator=g)
    a, a2 = (torch.rand(8, 1, generator=g, dtype=torch.float64) * 5 + 0.2
             for _ in range(2))
    b, b2 = (torch.randn(8, 1, generator=g, dtype=torch.float64) * 10
             for _ in range(2))
    base = loss(zs, zt, y).item()
    for s, t in ((a * zs + b, zt), (zs, a2 * zt + b2),
                 (a * zs + b, a2 * zt + b2)):
        assert loss(s, t, y).item() == pytest.approx(base, rel=1e-6)
    # without the switch a scale is seen (so the test can fail)
    loss.logit_standardize = False
    assert loss(a * zs + b, zt, y).item() != pytest.approx(
        loss(zs, zt, y).item(), rel=1e-3)


# ------------------------------------------------ gradients and numerics
@pytest.mark.parametrize('idx', range(5), ids=IDS)
def test_gradients_reach_student_never_teacher(idx):
    loss = _ls_loss(idx)
    zs, zt, y = _batch()
    zs = zs.float().requires_grad_()
    zt = zt.float().requires_grad_()
    loss(zs, zt, y).backward()
    assert zs.grad is not None and zs.grad.abs().sum() > 0
    assert zt.grad is None


def test_student_gradient_is_blind_to_shift_and_scale():
    # invariance => per row, grad . 1 = 0 and grad . zs = 0 (up to eps)
    zs, zt, y = _batch(n=8, c=7, seed=9)
    zs.requires_grad_()
    KDLoss(2.0, logit_standardize=True)(zs, zt, y).backward()
    gr = zs.grad
    assert gr.abs().max() > 1e-4
    assert torch.allclose(gr.sum(1), torch.zeros(8, dtype=torch.float64),
                          atol=1e-12)
    assert torch.allclose((gr * zs).sum(1), torch.zeros(8,
                                                        dtype=torch.float64),
                          atol=1e-8)


@pytest.mark.parametrize('idx', range(5), ids=IDS)
@pytest.mark.parametrize('c', [2, 10])
def test_finite_for_extreme_logits(idx, c):
    loss = _ls_loss(idx)
    g = torch.Generator().manual_seed(0)
    zs = (torch.randint(0, 2, (8, c), generator=g).float() * 2 - 1) * 1e4
    zt = (torch.randint(0, 2, (8, c), generator=g).float() * 2 - 1) * 1e4
    zt[0] = 0.0
    y = torch.randint(0, c, (8, ), generator=g)
    zs.requires_grad_()
    out = loss(zs, zt, y)
    out.backward()
    assert torch.isfinite(out) and torch.isfinite(zs.grad).all()


@pytest.mark.parametrize('idx', range(5), ids=IDS)
def test_finite_for_constant_logits(idx):
    loss = _ls_loss(idx)
    zs, zt, y = _batch()
    for s, t in ((torch.full((6, 5), 3.0), zt.float()),
                 (zs.float(), torch.full((6, 5), -2.0)),
                 (torch.zeros(6, 5), torch.zeros(6, 5))):
        s = s.clone().requires_grad_()
        out = loss(s, t, y)
        out.backward()
        assert torch.isfinite(out) and torch.isfinite(s.grad).all()
    # both uniform after standardization: KD is exactly 0
    c = torch.full((6, 5), 1.5)
    assert KDLoss(logit_standardize=True)(c, -c, y).item() == 0.0


@pytest.mark.parametrize('idx', range(5), ids=IDS)
def test_batch_reduction_is_mean(idx):
    loss = _ls_loss(idx)
    zs, zt, y = _batch()
    a = loss(zs.float(), zt.float(), y)
    b = loss(zs.float().repeat(2, 1), zt.float().repeat(2, 1), y.repeat(2))
    assert b.item() == pytest.approx(a.item(), rel=1e-5)
