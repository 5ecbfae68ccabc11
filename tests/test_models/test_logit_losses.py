import numpy as np
import pytest
import torch
from mmengine.logging import MessageHub

from mmrskd.models.losses import (DKDLoss, ISDMLoss, KDLoss, dkd_loss,
                                  kd_loss)
from mmrskd.models.losses.isdm_terms import (entropy_regulariser,
                                             instance_features,
                                             scale_soft_label)

from . import golden


def _batch(n=6, c=5, seed=0, scale=3.0):
    g = torch.Generator().manual_seed(seed)
    zs = torch.randn(n, c, generator=g, dtype=torch.float64) * scale
    zt = torch.randn(n, c, generator=g, dtype=torch.float64) * scale
    y = torch.randint(0, c, (n, ), generator=g)
    return zs, zt, y


def _all_losses():
    return [KDLoss(), DKDLoss(warmup_epochs=0), ISDMLoss(),
            ISDMLoss(margin='fixed'), ISDMLoss(use_is=False, use_dm=False)]


# --------------------------------------------------------------- golden
def test_kd_matches_formula():
    zs, zt, y = _batch()
    for t in (1.0, 4.0):
        ref = golden.kd(zs.numpy(), zt.numpy(), t)
        assert KDLoss(temperature=t)(zs, zt, y).item() == pytest.approx(
            ref, rel=1e-9)
    assert KDLoss(loss_weight=2.5)(zs, zt, y).item() == pytest.approx(
        2.5 * golden.kd(zs.numpy(), zt.numpy(), 4.0), rel=1e-9)


def test_kd_hand_computed_two_classes():
    # zs = [0, 0] -> q = [.5, .5]; zt = [ln 3, 0] -> p = [.75, .25], T = 1
    zs = torch.tensor([[0., 0.]])
    zt = torch.tensor([[np.log(3.0), 0.]])
    expect = 0.75 * np.log(0.75 / 0.5) + 0.25 * np.log(0.25 / 0.5)
    assert kd_loss(zs, zt, 1.0).item() == pytest.approx(expect, rel=1e-6)


@pytest.mark.parametrize('alpha,beta,t', [(1, 8, 4), (1, 0.5, 1), (2, 3, 2)])
def test_dkd_matches_formula(alpha, beta, t):
    zs, zt, y = _batch(seed=1)
    ref = golden.dkd(zs.numpy(), zt.numpy(), y.numpy(), alpha, beta, t)
    got = DKDLoss(alpha, beta, t, warmup_epochs=0)(zs, zt, y)
    assert got.item() == pytest.approx(ref, rel=1e-9)


def test_dkd_equals_kd_at_beta_one_minus_pt():
    zs, zt, y = _batch(n=16, c=7, seed=2)
    for t in (1.0, 4.0):
        pt = torch.softmax(zt / t, 1).gather(1, y[:, None]).squeeze(1)
        for i in range(len(y)):  # per sample, not only on average
            sl = slice(i, i + 1)
            d = dkd_loss(zs[sl], zt[sl], y[sl], alpha=1.0, beta=1 - pt[sl],
                         temperature=t)
            k = kd_loss(zs[sl], zt[sl], t)
            assert d.item() == pytest.approx(k.item(), abs=1e-5)


def test_dkd_warmup_from_message_hub():
    zs, zt, y = _batch()
    loss = DKDLoss(warmup_epochs=20)
    full = dkd_loss(zs, zt, y, 1.0, 8.0, 4.0)
    hub = MessageHub.get_instance('test_dkd_warmup')
    for epoch, factor in ((0, 1 / 20), (9, 10 / 20), (19, 1.0), (40, 1.0)):
        hub.update_info('epoch', epoch)
        assert loss(zs, zt, y).item() == pytest.approx(
            factor * full.item(), rel=1e-9)
    assert loss.warmup_factor(4) == pytest.approx(5 / 20)


def test_dkd_warmup_iters_from_message_hub():
    zs, zt, y = _batch()
    loss = DKDLoss(warmup_epochs=20, warmup_iters=10)  # iters replace epochs
    full = dkd_loss(zs, zt, y, 1.0, 8.0, 4.0)
    hub = MessageHub.get_instance('test_dkd_warmup_iters')
    assert loss.warmup_factor() == 1.0  # no iteration published
    hub.update_info('epoch', 0)
    for it, factor in ((0, 0.1), (4, 0.5), (9, 1.0), (50, 1.0)):
        hub.update_info('iter', it)
        assert loss(zs, zt, y).item() == pytest.approx(
            factor * full.item(), rel=1e-9)
    assert loss.warmup_factor(iteration=1) == pytest.approx(0.2)
    assert DKDLoss(warmup_iters=0).warmup_factor(iteration=0) == 1.0


@pytest.mark.parametrize('kwargs,name', [(dict(warmup_epochs=2.5),
                                          'warmup_epochs'),
                                         (dict(warmup_iters=-1),
                                          'warmup_iters')])
def test_dkd_bad_warmup(kwargs, name):
    with pytest.raises(ValueError, match=f'DKDLoss: {name} must be an '
                       r'integer >= 0 \(0 = no warm-up\), got'):
        DKDLoss(**kwargs)


def test_dkd_soft_targets_use_argmax():
    zs, zt, y = _batch(seed=3)
    soft = torch.nn.functional.one_hot(y, 5).double() * 0.6 + 0.08
    hard = DKDLoss(warmup_epochs=0)(zs, zt, y)
    assert DKDLoss(warmup_epochs=0)(zs, zt, soft).item() == pytest.approx(
        hard.item(), rel=1e-12)
    assert torch.isfinite(ISDMLoss()(zs, zt, soft))


def test_isdm_without_is_and_dm_is_weighted_kd():
    zs, zt, y = _batch(seed=4)
    got = ISDMLoss(use_is=False, use_dm=False, kd_weight=4.0)(zs, zt, y)
    assert got.item() == pytest.approx(
        4.0 * KDLoss(temperature=4.0)(zs, zt, y).item(), rel=1e-12)


def test_isdm_loss_weight_is_a_deprecated_kd_weight():
    """``loss_weight`` was ISDM's name for the KL term's weight alone; it
    is accepted with a DeprecationWarning and sets ``kd_weight``, also over
    a base config's ``kd_weight`` (an old override keeps its meaning)."""
    import warnings

    from mmengine.config import Config
    from mmpretrain.registry import MODELS
    zs, zt, y = _batch(seed=4)
    with pytest.warns(DeprecationWarning, match='loss_weight=2.0 is '
                      'deprecated, use kd_weight'):
        old = ISDMLoss(loss_weight=2.0)
    assert old.kd_weight == 2.0 and not hasattr(old, 'loss_weight')
    new = ISDMLoss(kd_weight=2.0)
    torch.testing.assert_close(old(zs, zt, y), new(zs, zt, y))
    # the ent term is not weighted: halving kd_weight is not halving ISDM
    half = ISDMLoss(kd_weight=1.0, use_dm=False)(zs, zt, y)
    full = ISDMLoss(kd_weight=2.0, use_dm=False)(zs, zt, y)
    assert half.item() != pytest.approx(full.item() / 2, rel=1e-3)
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        ISDMLoss(kd_weight=3.0)  # the new name warns nothing
    cfg = Config(dict(loss=dict(type='ISDMLoss', kd_weight=4.0)))
    cfg.merge_from_dict({'loss.loss_weight': 1.0})
    with pytest.warns(DeprecationWarning):
        assert MODELS.build(cfg.loss).kd_weight == 1.0


def test_isdm_matches_formula_at_init():
    zs, zt, y = _batch(seed=5)
    ref = golden.isdm(zs.numpy(), zt.numpy(), y.numpy(), 4.0,
                      scale=np.ones(6), margin='dynamic')
    assert ISDMLoss()(zs, zt, y).item() == pytest.approx(ref, rel=1e-7)


@pytest.mark.parametrize('margin', ['dynamic', 3.0, 7.0])
def test_isdm_margins_match_formula(margin):
    zs, zt, y = _batch(seed=6)
    kwargs = dict(margin='dynamic') if margin == 'dynamic' else dict(
        margin='fixed', margin_value=margin)
    got = ISDMLoss(use_is=False, **kwargs)(zs, zt, y)
    ref = golden.isdm(zs.numpy(), zt.numpy(), y.numpy(), 4.0, None, margin)
    assert got.item() == pytest.approx(ref, rel=1e-9)


def test_isdm_with_trained_scaler_matches_formula():
    zs, zt, y = _batch(seed=7)
    loss = ISDMLoss(use_dm=False).double()
    with torch.no_grad():
        loss.scaler.net[2].bias.fill_(0.7)
    s = (2 * torch.sigmoid(torch.tensor(0.7, dtype=torch.float64))).item()
    ref = golden.isdm(zs.numpy(), zt.numpy(), y.numpy(), 4.0,
                      scale=np.full(6, s), margin=None)
    assert loss(zs, zt, y).item() == pytest.approx(ref, rel=1e-7)


# ------------------------------------------------------------ scaler
def test_scaler_is_identity_at_init():
    loss = ISDMLoss()
    u = torch.rand(50, 3)
    assert torch.equal(loss.scaler(u), torch.ones(50))
    assert sum(p.numel() for p in loss.scaler.parameters()) < 10_000
    zs, zt, y = _batch(seed=8)
    log_q, _ = scale_soft_label(zt, y, loss.scaler(
        instance_features(zt, y, 4.0).float()).double(), 4.0)
    assert torch.allclose(log_q.exp(), torch.softmax(zt / 4.0, 1),
                          atol=1e-12)


def test_scaled_label_keeps_non_target_shape():
    zs, zt, y = _batch(seed=9)
    scale = torch.full((6, ), 1.3, dtype=torch.float64)
    log_q, q_t = scale_soft_label(zt, y, scale, 4.0)
    q, p = log_q.exp(), torch.softmax(zt / 4.0, 1)
    assert torch.allclose(q.sum(1), torch.ones(6, dtype=torch.float64))
    p_t = p.gather(1, y[:, None]).squeeze(1)
    assert torch.allclose(q_t, (1.3 * p_t).clamp(1e-6, 1 - 1e-6))
    mask = torch.nn.functional.one_hot(y, 5).bool()
    ratio = q[~mask].view(6, 4) / p[~mask].view(6, 4)
    assert torch.allclose(ratio, ratio[:, :1].expand(6, 4))


def test_entropy_term_raises_hard_and_softens_easy_targets():
    # d L_ent / d s < 0 for a hard sample (raise its target),
    # > 0 for an over-confident easy one (soften it).
    zt = torch.tensor([[0.0, 1.5, 1.0, 0.5], [12.0, 0.0, 0.0, 0.0]],
                      dtype=torch.float64)
    y = torch.tensor([0, 0])
    grads = []
    for i in range(2):
        s = torch.ones(1, dtype=torch.float64, requires_grad=True)
        log_q, q_t = scale_soft_label(zt[i:i + 1], y[i:i + 1], s, 1.0)
        entropy_regulariser(log_q, q_t).backward()
        grads.append(s.grad.item())
    assert grads[0] < 0 < grads[1]


# ------------------------------------------------ gradients and numerics
@pytest.mark.parametrize('loss', _all_losses())
def test_gradients_reach_student_never_teacher(loss):
    zs, zt, y = _batch()
    zs = zs.float().requires_grad_()
    zt = zt.float().requires_grad_()
    loss(zs, zt, y).backward()
    assert zs.grad is not None and zs.grad.abs().sum() > 0
    assert zt.grad is None


def test_gradients_reach_isdm_scaler():
    zs, zt, y = _batch()
    loss = ISDMLoss()
    loss(zs.float(), zt.float(), y).backward()
    last = loss.scaler.net[2]
    assert last.weight.grad.abs().sum() > 0 and last.bias.grad.abs() > 0


@pytest.mark.parametrize('loss', _all_losses())
def test_batch_reduction_is_mean(loss):
    zs, zt, y = _batch()
    a = loss(zs.float(), zt.float(), y)
    b = loss(zs.float().repeat(2, 1), zt.float().repeat(2, 1), y.repeat(2))
    assert b.item() == pytest.approx(a.item(), rel=1e-5)


@pytest.mark.parametrize('loss', _all_losses())
@pytest.mark.parametrize('c', [2, 10])
def test_finite_for_extreme_logits(loss, c):
    g = torch.Generator().manual_seed(0)
    zs = (torch.randint(0, 2, (8, c), generator=g).float() * 2 - 1) * 1e4
    zt = (torch.randint(0, 2, (8, c), generator=g).float() * 2 - 1) * 1e4
    zt[0] = 0.0
    y = torch.randint(0, c, (8, ), generator=g)
    zs.requires_grad_()
    out = loss(zs, zt, y)
    out.backward()
    assert torch.isfinite(out)
    assert torch.isfinite(zs.grad).all()


@pytest.mark.parametrize('kwargs', [dict(temperature=0), dict(margin='x')])
def test_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        ISDMLoss(**kwargs)


@pytest.mark.parametrize('mode,reaches', [('regulariser', False),
                                          ('all', True)])
def test_which_terms_train_the_scaler(mode, reaches):
    zs, zt, y = _batch(seed=11)
    loss = ISDMLoss(ent_weight=0.0, scaler_grad=mode)
    loss(zs.float().requires_grad_(), zt.float(), y).backward()
    grad = loss.scaler.net[2].bias.grad
    assert (grad is not None and grad.abs().item() > 0) == reaches
