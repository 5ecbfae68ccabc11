import math

import numpy as np
import pytest
import torch
import torch.nn as nn
from mmengine.logging import MessageHub
from mmpretrain.registry import MODELS

from mmrskd.models.losses.dkd_loss import dkd_loss
from mmrskd.models.losses.kd_loss import kd_loss
from mmrskd.models.losses.sdd_loss import SDDLoss, sdd_loss
from mmrskd.models.losses.sdd_regions import local_features, region_weights

from . import golden


# ------------------------------------------- float64 numpy reference
def _adaptive_pool(x, m):
    """(C, H, W) -> (C, m, m): cell i spans [floor(iH/m), ceil((i+1)H/m))."""
    c, h, w = x.shape
    out = np.empty((c, m, m))
    for i in range(m):
        r0, r1 = (i * h) // m, math.ceil((i + 1) * h / m)
        for j in range(m):
            c0, c1 = (j * w) // m, math.ceil((j + 1) * w / m)
            out[:, i, j] = x[:, r0:r1, c0:c1].mean(axis=(1, 2))
    return out


def _ref_local_logits(feat, weight, bias, scales):
    """(N, C, H, W) -> (N, R, K): SPP grid of max(scales), coarser scales
    pooled from it, each region classified by ``x @ W^T + b``."""
    out = []
    for x in feat:
        grid = _adaptive_pool(x, max(scales))
        regions = [_adaptive_pool(grid, m).reshape(x.shape[0], -1).T
                   for m in scales]
        out.append(np.concatenate(regions) @ weight.T + bias)
    return np.stack(out)


def _ref_sdd(zs, zt, y, t, beta, base='kd', split='label', a=1.0, b=8.0):
    """T^2 / (N R) * sum_{i,k} w_ik L_ik; w = beta for complementary terms
    (label: local right != global right; class: local class != global)."""
    total, n_comp = 0.0, 0
    for zs_i, zt_i, y_i in zip(zs, zt, y):
        g = int(np.argmax(zt_i[0]))
        for zs_ik, zt_ik in zip(zs_i, zt_i):
            loc = int(np.argmax(zt_ik))
            comp = ((loc == y_i) != (g == y_i)) if split == 'label' \
                else loc != g
            n_comp += comp
            if base == 'kd':
                term = golden.kl(golden.softmax(zt_ik, t),
                                 golden.softmax(zs_ik, t))
            else:
                tckd, nckd = golden.dkd_terms(zs_ik, zt_ik, y_i, t)
                term = a * tckd + b * nckd
            total += (beta if comp else 1.0) * term
    return t * t * total / (zs.shape[0] * zs.shape[1]), n_comp


def _fc(c, k, seed):
    torch.manual_seed(seed)
    return nn.Linear(c, k).double()


def _case(n=4, c=6, hw=8, k=5, seed=0, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    fs = torch.randn(n, c, hw, hw, generator=g, dtype=torch.float64) * scale
    ft = torch.randn(n, c, hw, hw, generator=g, dtype=torch.float64) * scale
    y = torch.randint(0, k, (n, ), generator=g)
    return fs, ft, y, _fc(c, k, seed), _fc(c, k, seed + 100)


def _np(fc):
    return fc.weight.detach().numpy(), fc.bias.detach().numpy()


# ------------------------------------------------------------ golden
@pytest.mark.parametrize('hw,scales', [(8, (1, 2, 4)), (7, (1, 2, 4)),
                                       (6, (1, 2)), (5, (1, 3))])
@pytest.mark.parametrize('t,beta,split', [(4.0, 2.0, 'label'),
                                          (1.0, 0.5, 'label'),
                                          (2.0, 3.0, 'class')])
def test_sdd_kd_matches_reference(hw, scales, t, beta, split):
    fs, ft, y, fcs, fct = _case(hw=hw, seed=hw)
    zs = _ref_local_logits(fs.numpy(), *_np(fcs), scales)
    zt = _ref_local_logits(ft.numpy(), *_np(fct), scales)
    ref, n_comp = _ref_sdd(zs, zt, y.numpy(), t, beta, split=split)
    loss = SDDLoss(scales, temperature=t, beta=beta, split=split,
                   loss_weight=0.7)
    got = loss(fs, ft, y, fcs, fct)
    assert got.item() == pytest.approx(0.7 * ref, rel=1e-9)
    if hw == 8:  # both kinds of terms are exercised
        assert 0 < n_comp < zs.shape[0] * zs.shape[1] - zs.shape[0]


@pytest.mark.parametrize('a,b,t', [(1.0, 8.0, 4.0), (1.0, 0.5, 1.0)])
def test_sdd_dkd_matches_reference(a, b, t):
    fs, ft, y, fcs, fct = _case(hw=8, seed=3)
    zs = _ref_local_logits(fs.numpy(), *_np(fcs), (1, 2, 4))
    zt = _ref_local_logits(ft.numpy(), *_np(fct), (1, 2, 4))
    ref, _ = _ref_sdd(zs, zt, y.numpy(), t, 2.0, 'dkd', a=a, b=b)
    loss = SDDLoss(temperature=t, base='dkd',
                   dkd=dict(alpha=a, beta=b, warmup_epochs=0))
    assert loss(fs, ft, y, fcs, fct).item() == pytest.approx(ref, rel=1e-9)


def test_dkd_warmup_from_message_hub():
    fs, ft, y, fcs, fct = _case(seed=4)
    full = SDDLoss(base='dkd', dkd=dict(warmup_epochs=0))(fs, ft, y, fcs,
                                                          fct)
    loss = SDDLoss(base='dkd')  # DKDLoss's 20-epoch ramp
    hub = MessageHub.get_instance('test_sdd_dkd_warmup')
    for epoch, factor in ((0, 1 / 20), (19, 1.0)):
        hub.update_info('epoch', epoch)
        assert loss(fs, ft, y, fcs, fct).item() == pytest.approx(
            factor * full.item(), rel=1e-9)


def test_region_weights_by_hand():
    # y = 0; regions: global, then two locals, logits over 3 classes
    right = torch.tensor([[[5., 0, 0], [4., 0, 0], [0., 3, 0]]])
    wrong = torch.tensor([[[0., 5, 0], [0., 0, 4], [3., 0, 0]]])
    y = torch.tensor([0])
    assert region_weights(right, y, 7., 'label').tolist() == [[1, 1, 7]]
    assert region_weights(right, y, 7., 'class').tolist() == [[1, 1, 7]]
    # global wrong, local wrong with another class: consistent for the
    # official split, complementary for the class split
    assert region_weights(wrong, y, 7., 'label').tolist() == [[1, 1, 7]]
    assert region_weights(wrong, y, 7., 'class').tolist() == [[1, 7, 7]]


# -------------------------------------------------------- identities
def test_cam_shortcut_equals_pooled_features():
    for hw in (8, 7):
        fs, _, _, fcs, _ = _case(hw=hw, k=9, seed=5)
        pooled_first = fcs(local_features(fs, (1, 2, 4)))
        cam = fcs(fs.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        torch.testing.assert_close(local_features(cam, (1, 2, 4)),
                                   pooled_first, rtol=1e-12, atol=1e-12)


def test_per_region_classifier_path():
    fs, _, _, fcs, _ = _case(hw=8, seed=6)
    rows = []
    for m in (1, 2, 4):
        s = 8 // m
        for i in range(m):
            for j in range(m):
                cell = fs[:, :, i * s:(i + 1) * s, j * s:(j + 1) * s]
                rows.append(fcs(cell.mean(dim=(2, 3))))
    expect = torch.stack(rows, dim=1)
    got = SDDLoss().local_logits(fs, fcs)
    assert got.shape == (4, 21, 5)
    torch.testing.assert_close(got, expect, rtol=1e-12, atol=1e-12)


def test_7x7_global_region_is_mean_of_4x4_grid():
    fs, _, _, _, _ = _case(hw=7, seed=7)
    feats = local_features(fs, (1, 2, 4))
    grid = torch.nn.functional.adaptive_avg_pool2d(fs, 4)
    torch.testing.assert_close(feats[:, 0], grid.mean(dim=(2, 3)))
    assert not torch.allclose(feats[:, 0], fs.mean(dim=(2, 3)))


@pytest.mark.parametrize('beta', [1.0, 5.0])
def test_global_scale_only_is_plain_kd_and_dkd(beta):
    fs, ft, y, fcs, fct = _case(hw=7, seed=8)
    zs, zt = fcs(fs.mean(dim=(2, 3))), fct(ft.mean(dim=(2, 3)))
    for t in (1.0, 4.0):
        got = SDDLoss((1, ), temperature=t, beta=beta)(fs, ft, y, fcs, fct)
        assert got.item() == pytest.approx(kd_loss(zs, zt, t).item(),
                                           rel=1e-9)
    got = SDDLoss((1, ), beta=beta, base='dkd',
                  dkd=dict(warmup_epochs=0))(fs, ft, y, fcs, fct)
    assert got.item() == pytest.approx(
        dkd_loss(zs, zt, y, 1.0, 8.0, 4.0).item(), rel=1e-9)


def test_beta_one_is_kd_over_all_regions():
    fs, ft, y, fcs, fct = _case(seed=9)
    loss = SDDLoss(beta=1.0)
    zs, zt = loss.local_logits(fs, fcs), loss.local_logits(ft, fct)
    expect = kd_loss(zs.reshape(-1, 5), zt.reshape(-1, 5), 4.0)
    assert loss(fs, ft, y, fcs, fct).item() == pytest.approx(
        expect.item(), rel=1e-9)


def test_soft_labels_use_argmax():
    fs, ft, y, fcs, fct = _case(seed=10)
    soft = torch.softmax(torch.randn(4, 5, dtype=torch.float64), 1) * 0.2
    soft[torch.arange(4), y] += 0.9
    loss = SDDLoss()
    assert loss(fs, ft, soft, fcs, fct).item() == pytest.approx(
        loss(fs, ft, y, fcs, fct).item(), rel=1e-12)


# ----------------------------------------------------- gradients etc.
@pytest.mark.parametrize('base', ['kd', 'dkd'])
def test_gradients_reach_student_only(base):
    fs, ft, y, fcs, fct = _case(seed=11)
    fs.requires_grad_(True)
    ft.requires_grad_(True)
    dkd = dict(warmup_epochs=0) if base == 'dkd' else None
    SDDLoss(base=base, dkd=dkd)(fs, ft, y, fcs, fct).backward()
    assert fs.grad is not None and fs.grad.abs().sum() > 0
    assert fcs.weight.grad.abs().sum() > 0 and fcs.bias.grad is not None
    assert ft.grad is None
    assert fct.weight.grad is None and fct.bias.grad is None


def test_teacher_classifier_runs_without_grad():
    fs, ft, y, fcs, fct = _case(seed=15)
    modes = {}

    def spy(name, fc):
        def run(x):
            modes[name] = torch.is_grad_enabled()
            return fc(x)
        return run

    SDDLoss()(fs, ft, y, spy('s', fcs), spy('t', fct))
    assert modes == {'s': True, 't': False}


def test_finite_for_extreme_and_saturated_logits():
    fs, ft, y, fcs, fct = _case(seed=12, scale=1e3)
    with torch.no_grad():
        fct.weight.mul_(1e2)
    fs.requires_grad_(True)
    zt = SDDLoss().local_logits(ft, fct)
    assert zt.abs().max() > 1e4  # saturated teacher softmax
    for base, dkd in (('kd', None), ('dkd', dict(warmup_epochs=0))):
        loss = SDDLoss(base=base, dkd=dkd)(fs.float(), ft.float(), y,
                                           fcs.float(), fct.float())
        loss.backward()
        assert torch.isfinite(loss) and torch.isfinite(fs.grad).all()
        fs.grad = None


def test_bf16_student_gives_float32_loss():
    fs, ft, y, fcs, fct = _case(seed=13)
    loss = SDDLoss()(fs.bfloat16(), ft.float(), y, fcs.bfloat16(),
                     fct.float())
    assert loss.dtype == torch.float32 and torch.isfinite(loss)


def test_build_from_registry_with_defaults():
    with MODELS.switch_scope_and_registry('mmpretrain') as registry:
        loss = registry.build(dict(type='SDDLoss'))
    assert (loss.scales, loss.temperature, loss.beta, loss.base,
            loss.split, loss.loss_weight) == ((1, 2, 4), 4.0, 2.0, 'kd',
                                              'label', 1.0)


@pytest.mark.parametrize('kwargs', [
    dict(scales=(2, 4)), dict(scales=(1, 4, 2)), dict(scales=(1, 1)),
    dict(scales=()), dict(scales=(1, 2.0)), dict(scales=(1, 0)),
    dict(temperature=0.0), dict(beta=-1.0), dict(base='nkd'),
    dict(split='region'), dict(dkd=dict(alpha=1.0)),
    dict(base='dkd', dkd=dict(temperature=2.0))])
def test_bad_arguments_raise(kwargs):
    with pytest.raises(ValueError, match='SDDLoss'):
        SDDLoss(**kwargs)


def test_bad_inputs_raise():
    fs, ft, y, fcs, fct = _case(seed=14)
    with pytest.raises(ValueError, match='N, C, H, W'):
        SDDLoss()(fs.mean(dim=3), ft, y, fcs, fct)
    z = torch.randn(2, 21, 5)
    with pytest.raises(ValueError, match='sdd_loss'):
        sdd_loss(z, z[:, :5], torch.tensor([0, 1]))
    with pytest.raises(ValueError, match='sdd_loss'):
        sdd_loss(z, z, torch.tensor([0, 1]), base='nkd')
