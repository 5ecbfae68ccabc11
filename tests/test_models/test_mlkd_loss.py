"""MLKDLoss against an independent float64 numpy transcription of the
official MLKD weak-view loss (Jin-Ying/Multi-Level-Logit-Distillation,
``KD_ours.forward_train``), including its confidence masks."""
import numpy as np
import pytest
import torch
from mmpretrain.registry import MODELS

from mmrskd.models.losses.kd_loss import kd_loss
from mmrskd.models.losses.mlkd_loss import (MLKDLoss,
                                            below_percentile_fraction,
                                            mlkd_loss)

from . import golden

OFFICIAL_T = (2.0, 3.0, 4.0, 5.0, 6.0)


# ------------------------------------------------------------ reference
def _softmax(z, t=1.0):
    z = np.asarray(z, np.float64) / t
    e = np.exp(z - z.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)

def _build(cfg):
    """Build from mmpretrain's registry whatever default scope an earlier
    test left (a detection test leaves 'mmdet')."""
    with MODELS.switch_scope_and_registry('mmpretrain') as registry:
        return registry.build(cfg)



def _terms(zs, zt, t):
    """(instance KL * T^2, batch term, class term) at one temperature."""
    ps, pt = _softmax(zs, t), _softmax(zt, t)
    kl = np.sum(pt * (np.log(pt) - np.log(ps)), axis=1).mean() * t * t
    b, c = ps.shape
    bc = np.sum((pt @ pt.T - ps @ ps.T) ** 2) / b
    cc = np.sum((pt.T @ pt - ps.T @ ps) ** 2) / c
    return kl, bc, cc


def reference(zs, zt, temps=OFFICIAL_T, pct=50.0, wi=1.0, wb=1.0, wc=1.0,
              ls=False):
    """Literal official semantics: each term is a scalar, then
    ``(scalar * mask).mean()`` with ``mask = conf <= np.percentile``.
    ``ls``: logit standardization as its official MLKD does it (Z-scored
    logits in the instance KL only)."""
    p1 = _softmax(zt)
    conf, cls_conf = p1.max(1), p1.sum(0)
    if pct is None:
        mask, cmask = np.ones_like(conf), np.ones_like(cls_conf)
    else:
        mask = (conf <= np.percentile(conf, pct)).astype(np.float64)
        cmask = (cls_conf <= np.percentile(cls_conf, pct)).astype(np.float64)
    total = 0.0
    for t in temps:
        kl, bc, cc = _terms(zs, zt, t)
        if ls:
            kl = _terms(golden.standardize(zs), golden.standardize(zt), t)[0]
        total += (wi * kl * mask).mean() + (wb * bc * mask).mean()
        total += (wc * cc * cmask).mean()
    return total


def _batch(n=6, c=5, seed=0, scale=3.0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    zs = torch.randn(n, c, generator=g, dtype=dtype) * scale
    zt = torch.randn(n, c, generator=g, dtype=dtype) * scale
    y = torch.randint(0, c, (n, ), generator=g)
    return zs, zt, y


# --------------------------------------------------------------- golden
@pytest.mark.parametrize('n,c', [(6, 5), (8, 10), (5, 3), (1, 4), (7, 20)])
@pytest.mark.parametrize('temps', [OFFICIAL_T, (1.0, 2.0, 3.0, 5.0, 6.0),
                                   (4.0, )])
@pytest.mark.parametrize('pct', [50.0, 25.0, None])
def test_matches_official_reference(n, c, temps, pct):
    zs, zt, y = _batch(n, c, seed=n * 100 + c)
    got = MLKDLoss(temperatures=temps, confidence_percentile=pct)(zs, zt, y)
    ref = reference(zs.numpy(), zt.numpy(), temps, pct)
    assert got.item() == pytest.approx(ref, rel=1e-9)


@pytest.mark.parametrize('wi,wb,wc', [(1, 0, 0), (0, 1, 0), (0, 0, 1),
                                      (0.3, 2.0, 0.7)])
def test_term_weights_match_reference(wi, wb, wc):
    zs, zt, y = _batch(8, 6, seed=11)
    loss = MLKDLoss(instance_weight=wi, batch_weight=wb, class_weight=wc,
                    loss_weight=0.9)
    ref = 0.9 * reference(zs.numpy(), zt.numpy(), wi=wi, wb=wb, wc=wc)
    assert loss(zs, zt, y).item() == pytest.approx(ref, rel=1e-9)


def test_hand_computed_single_sample():
    # one sample, two classes, T = 1: ps = [.5, .5], pt = [.75, .25];
    # B x B: (|pt|^2 - |ps|^2)^2 = (0.625 - 0.5)^2; C x C / 2 classes.
    zs = torch.tensor([[0., 0.]], dtype=torch.float64)
    zt = torch.tensor([[np.log(3.0), 0.]], dtype=torch.float64)
    kl = 0.75 * np.log(1.5) + 0.25 * np.log(0.5)
    d = np.outer([.75, .25], [.75, .25]) - 0.25
    expect = kl + 0.125 ** 2 + np.sum(d ** 2) / 2
    # one sample: its confidence is the median -> w_s = 1; classes: the
    # smaller class sum 0.25 is below the median 0.5 -> w_c = 1/2.
    got = mlkd_loss(zs, zt, (1.0, ), confidence_percentile=None)
    assert got.item() == pytest.approx(expect, rel=1e-12)
    masked = mlkd_loss(zs, zt, (1.0, ))
    assert masked.item() == pytest.approx(
        kl + 0.125 ** 2 + 0.5 * np.sum(d ** 2) / 2, rel=1e-12)


# ------------------------------------------------------- confidence mask
@pytest.mark.parametrize('pct', [0.0, 10.0, 33.3, 50.0, 90.0, 100.0])
def test_fraction_matches_numpy_percentile(pct):
    v = torch.rand(13, dtype=torch.float64, generator=torch.Generator()
                   .manual_seed(int(pct)))
    ref = np.mean(v.numpy() <= np.percentile(v.numpy(), pct))
    assert below_percentile_fraction(v, pct).item() == pytest.approx(ref)


def test_mask_is_a_scalar_factor_of_the_official_size():
    zs, zt, y = _batch(8, 6, seed=3)  # even batch, distinct confidences
    full = mlkd_loss(zs, zt, confidence_percentile=None,
                     class_weight=0.0)
    half = mlkd_loss(zs, zt, class_weight=0.0)
    assert half.item() == pytest.approx(0.5 * full.item(), rel=1e-12)
    zs, zt, y = _batch(5, 6, seed=4)  # odd batch: 3 of 5 at or below
    full = mlkd_loss(zs, zt, confidence_percentile=None, class_weight=0.0)
    assert mlkd_loss(zs, zt, class_weight=0.0).item() == pytest.approx(
        0.6 * full.item(), rel=1e-12)
    # equal confidences (ties) keep everything; percentile 0 keeps the min
    zt_tied = torch.zeros(4, 3, dtype=torch.float64)
    assert mlkd_loss(zs[:4, :3], zt_tied).item() == pytest.approx(
        mlkd_loss(zs[:4, :3], zt_tied, confidence_percentile=None).item())
    zs, zt, y = _batch(8, 6, seed=5)
    assert mlkd_loss(zs, zt, confidence_percentile=0.0,
                     class_weight=0.0).item() == pytest.approx(
        mlkd_loss(zs, zt, confidence_percentile=None,
                  class_weight=0.0).item() / 8, rel=1e-12)


# ----------------------------------------------------------- identities
def test_zero_when_student_equals_teacher():
    zs, zt, y = _batch(6, 5, seed=6)
    assert MLKDLoss()(zt.clone(), zt, y).abs().item() < 1e-12


def test_instance_only_is_sum_of_kd_over_temperatures():
    zs, zt, y = _batch(6, 5, seed=7)
    got = mlkd_loss(zs, zt, OFFICIAL_T, None, batch_weight=0, class_weight=0)
    ref = sum(kd_loss(zs, zt, t) for t in OFFICIAL_T)
    assert got.item() == pytest.approx(ref.item(), rel=1e-12)


def test_batch_reduction_and_permutation_invariance():
    zs, zt, y = _batch(6, 5, seed=8)
    kw = dict(temperatures=OFFICIAL_T, confidence_percentile=None)
    terms = [dict(batch_weight=0, class_weight=0),
             dict(instance_weight=0, class_weight=0),
             dict(instance_weight=0, batch_weight=0)]
    zs2, zt2 = torch.cat([zs, zs]), torch.cat([zt, zt])
    for factor, w in zip((1.0, 2.0, 4.0), terms):  # mean / sum/B / sum/C
        one = mlkd_loss(zs, zt, **kw, **w)
        assert mlkd_loss(zs2, zt2, **kw, **w).item() == pytest.approx(
            factor * one.item(), rel=1e-10)
    rows, cols = torch.randperm(6), torch.randperm(5)
    assert mlkd_loss(zs[rows][:, cols], zt[rows][:, cols]).item() == \
        pytest.approx(mlkd_loss(zs, zt).item(), rel=1e-10)


def test_labels_unused_hard_soft_or_none():
    zs, zt, y = _batch(6, 5, seed=9)
    soft = torch.nn.functional.one_hot(y, 5).double() * 0.6 + 0.08
    loss = MLKDLoss()
    a = loss(zs, zt, y)
    assert loss(zs, zt, soft).item() == a.item() == loss(zs, zt).item()


def test_registered_default_build():
    loss = _build(dict(type='MLKDLoss'))
    assert loss.temperatures == OFFICIAL_T
    assert loss.confidence_percentile == 50.0


# ------------------------------------------------ gradients and numerics
@pytest.mark.parametrize('w', [dict(), dict(batch_weight=0, class_weight=0),
                               dict(instance_weight=0, class_weight=0),
                               dict(instance_weight=0, batch_weight=0)])
def test_gradients_reach_student_never_teacher(w):
    zs, zt, y = _batch(6, 5, seed=10, dtype=torch.float32)
    zs.requires_grad_()
    zt.requires_grad_()
    MLKDLoss(**w)(zs, zt, y).backward()
    assert zs.grad is not None and zs.grad.abs().sum() > 0
    assert zt.grad is None


def test_gradcheck_student():
    zs, zt, _ = _batch(4, 3, seed=12)
    zs.requires_grad_()
    assert torch.autograd.gradcheck(lambda s: mlkd_loss(s, zt), (zs, ))


@pytest.mark.parametrize('case', ['extreme', 'saturated_target'])
def test_finite_for_extreme_logits(case):
    g = torch.Generator().manual_seed(13)
    if case == 'extreme':
        zs = (torch.randint(0, 2, (6, 5), generator=g) * 2 - 1) * 1e4
        zt = (torch.randint(0, 2, (6, 5), generator=g) * 2 - 1) * 1e4
    else:  # teacher certain of class 0, student certain of class 1
        zt = torch.zeros(6, 5)
        zt[:, 0] = 1e4
        zs = torch.zeros(6, 5)
        zs[:, 1] = 1e4
    zs = zs.float().requires_grad_()
    loss = MLKDLoss()(zs, zt.float(), None)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(zs.grad).all()


def test_low_precision_inputs():
    zs, zt, y = _batch(8, 6, seed=14, dtype=torch.float32)
    ref = MLKDLoss(confidence_percentile=None)(zs, zt, y)
    got = MLKDLoss(confidence_percentile=None)(zs.bfloat16(), zt.bfloat16())
    assert got.float().item() == pytest.approx(ref.item(), rel=5e-2)
    assert torch.isfinite(MLKDLoss()(zs.bfloat16(), zt.bfloat16()))


# ------------------------------------------------------------- bad args
@pytest.mark.parametrize('kwargs,match', [
    (dict(temperatures=()), 'temperatures'),
    (dict(temperatures=4.0), 'temperatures'),
    (dict(temperatures=(2.0, 0.0)), 'temperatures'),
    (dict(temperatures=(2.0, float('nan'))), 'temperatures'),
    (dict(confidence_percentile=-1), 'confidence_percentile'),
    (dict(confidence_percentile=150), 'confidence_percentile'),
    (dict(instance_weight=-1), 'instance_weight'),
    (dict(batch_weight=-0.5), 'batch_weight'),
    (dict(class_weight=float('nan')), 'class_weight'),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=f'MLKDLoss: {match}'):
        MLKDLoss(**kwargs)


# ------------------------------------------------- logit standardization
LS_RECIPE = dict(temperatures=(2.0, 3.0, 5.0, 2.0, 6.0), loss_weight=9.0,
                 logit_standardize=True)


@pytest.mark.parametrize('n,c', [(6, 5), (8, 10), (7, 20)])
@pytest.mark.parametrize('pct', [50.0, None])
def test_logit_standardize_matches_official_reference(n, c, pct):
    zs, zt, y = _batch(n, c, seed=n * 10 + c)
    zt = zt * 2 + 1  # teacher logits of another scale
    got = MLKDLoss(confidence_percentile=pct, **LS_RECIPE)(zs, zt, y)
    ref = 9.0 * reference(zs.numpy(), zt.numpy(), LS_RECIPE['temperatures'],
                          pct, ls=True)
    assert got.item() == pytest.approx(ref, rel=1e-9)
    # the switch changes the value, and only the instance terms see it
    raw = 9.0 * reference(zs.numpy(), zt.numpy(), LS_RECIPE['temperatures'],
                          pct)
    assert got.item() != pytest.approx(raw, rel=1e-3)
    for w in (dict(instance_weight=0), dict(batch_weight=0, class_weight=0)):
        on = mlkd_loss(zs, zt, confidence_percentile=pct,
                       logit_standardize=True, **w)
        off = mlkd_loss(zs, zt, confidence_percentile=pct, **w)
        assert (on.item() == pytest.approx(off.item(), rel=1e-12)) == \
            ('instance_weight' in w)


def test_logit_standardize_instance_terms_ignore_shift_and_scale():
    zs, zt, y = _batch(8, 6, seed=11)
    g = torch.Generator().manual_seed(12)
    a = torch.rand(8, 1, generator=g, dtype=torch.float64) * 5 + 0.2
    b = torch.randn(8, 1, generator=g, dtype=torch.float64) * 10
    loss = MLKDLoss(batch_weight=0, class_weight=0,
                    confidence_percentile=None, logit_standardize=True)
    base = loss(zs, zt, y).item()
    assert loss(a * zs + b, zt, y).item() == pytest.approx(base, rel=1e-6)
    assert loss(zs, a * zt + b, y).item() == pytest.approx(base, rel=1e-6)
    loss.logit_standardize = False  # without it the scale is seen
    assert loss(a * zs + b, zt, y).item() != pytest.approx(
        loss(zs, zt, y).item(), rel=1e-3)


def test_logit_standardize_from_config_and_gradients():
    assert _build(dict(type='MLKDLoss')).logit_standardize is False
    loss = _build(dict(type='MLKDLoss', **LS_RECIPE))
    assert loss.logit_standardize is True
    zs, zt, y = _batch(6, 5, seed=13)
    zs.requires_grad_(True)
    zt.requires_grad_(True)
    loss(zs, zt, y).backward()
    assert zs.grad.abs().sum() > 0 and zt.grad is None
    z = torch.randn(5, 4, dtype=torch.float64, requires_grad=True)
    t = torch.randn(5, 4, dtype=torch.float64)
    assert torch.autograd.gradcheck(
        lambda s: mlkd_loss(s, t, logit_standardize=True), (z, ))
