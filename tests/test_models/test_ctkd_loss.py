import math
import uuid

import numpy as np
import pytest
import torch
from mmengine.logging import MessageHub
from mmpretrain.registry import MODELS

from mmrskd.models.losses import dkd_loss, kd_loss
from mmrskd.models.losses.ctkd_curriculum import GradientReversal
from mmrskd.models.losses.ctkd_loss import CTKDLoss


# ----------------------------------------------- independent float64 refs
def _softmax(z, t):
    z = np.asarray(z, np.float64) / t
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)

def _build(cfg):
    """Build from mmpretrain's registry whatever default scope an earlier
    test left (a detection test leaves 'mmdet')."""
    with MODELS.switch_scope_and_registry('mmpretrain') as registry:
        return registry.build(cfg)



def _kl(p, q):
    m = p > 0
    return float(np.sum(p[m] * (np.log(p[m]) - np.log(q[m]))))


def ref_kd(zs, zt, t):
    return t * t * np.mean([_kl(_softmax(b, t), _softmax(a, t))
                            for a, b in zip(zs, zt)])


def ref_dkd(zs, zt, y, alpha, beta, t):
    vals = []
    for a, b, c in zip(zs, zt, y):
        ps, pt = _softmax(a, t), _softmax(b, t)
        bs, bt = np.array([ps[c], 1 - ps[c]]), np.array([pt[c], 1 - pt[c]])
        nt = [j for j in range(len(ps)) if j != c]
        hs, ht = ps[nt] / ps[nt].sum(), pt[nt] / pt[nt].sum()
        vals.append(alpha * _kl(bt, bs) + beta * _kl(ht, hs))
    return t * t * np.mean(vals)


def ref_temperature(theta, t_start=1.0, t_range=20.0):
    return t_start + t_range / (1 + np.exp(-theta))


def ref_lambda(epoch0, n_epochs, lmin=0.0, lmax=1.0):
    """The official CosineDecay(max=0, min=-1) at the 1-based epoch, negated
    (the official GRL multiplies by the signed value), rescaled."""
    i = min(max(epoch0 + 1, 0), n_epochs)
    signed = (math.cos(i * math.pi / n_epochs) + 1) * 0.5 * (0 - -1) + -1
    return lmin + (lmax - lmin) * -signed


# ------------------------------------------------------------------ utils
def _batch(n=6, c=5, seed=0, scale=3.0):
    g = torch.Generator().manual_seed(seed)
    zs = torch.randn(n, c, generator=g, dtype=torch.float64) * scale
    zt = torch.randn(n, c, generator=g, dtype=torch.float64) * scale
    y = torch.randint(0, c, (n, ), generator=g)
    return zs, zt, y


@pytest.fixture(autouse=True)
def _fresh_hub():
    """Each test, and whatever runs after it, starts from an empty hub."""
    MessageHub.get_instance(f'ctkd-{uuid.uuid4().hex}')
    yield
    MessageHub.get_instance(f'ctkd-{uuid.uuid4().hex}')


def _train_at(epoch=None, it=None):
    hub = MessageHub.get_current_instance()
    hub.update_info('loop_stage', 'train')
    if epoch is not None:
        hub.update_info('epoch', epoch)
    if it is not None:
        hub.update_info('iter', it)


# ----------------------------------------------------------------- golden
@pytest.mark.parametrize('n,c,init', [(6, 5, None), (3, 10, 4.0),
                                      (8, 2, 1.5), (4, 100, 20.0)])
def test_kd_golden_at_learned_temperature(n, c, init):
    zs, zt, y = _batch(n, c, seed=c)
    loss = CTKDLoss(init_temperature=init, loss_weight=0.9).double()
    t = ref_temperature(loss.theta.item())
    assert loss.temperature == pytest.approx(t, rel=1e-12)
    if init is not None:
        assert t == pytest.approx(init, rel=1e-6)  # float32 theta
    assert loss(zs, zt, y).item() == pytest.approx(
        0.9 * ref_kd(zs.numpy(), zt.numpy(), t), rel=1e-9)


def test_official_initial_temperature():
    assert CTKDLoss().theta.item() == 1.0
    assert CTKDLoss().temperature == pytest.approx(
        1 + 20 / (1 + math.exp(-1)), rel=1e-6)  # ~15.62


@pytest.mark.parametrize('alpha,beta,init', [(1, 2, None), (1, 8, 4.0),
                                             (2, 0.5, 2.0)])
def test_dkd_option_golden(alpha, beta, init):
    zs, zt, y = _batch(seed=3)
    loss = CTKDLoss(base='dkd', dkd_alpha=alpha, dkd_beta=beta,
                    init_temperature=init).double()
    t = loss.temperature
    got = loss(zs, zt, y).item()
    assert got == pytest.approx(
        ref_dkd(zs.numpy(), zt.numpy(), y.numpy(), alpha, beta, t),
        rel=1e-9)
    assert got == pytest.approx(
        dkd_loss(zs, zt, y, alpha, beta, t).item(), rel=1e-9)
    soft = torch.nn.functional.one_hot(y, zs.size(1)).double() * 0.8 + 0.04
    assert loss(zs, zt, soft).item() == pytest.approx(got, rel=1e-12)


# -------------------------------------------------------------- gradients
def _fd_grad(zs, zt, theta, fn, h=1e-6):
    """Central difference of the float64 reference in theta."""
    up, down = ref_temperature(theta + h), ref_temperature(theta - h)
    return (fn(zs, zt, up) - fn(zs, zt, down)) / (2 * h)


@pytest.mark.parametrize('epoch', [0, 4, 9, None])
def test_temperature_gradient_is_reversed_and_scaled(epoch):
    zs, zt, y = _batch(seed=5)
    loss = CTKDLoss(loss_weight=0.9, init_temperature=3.0).double()
    if epoch is not None:
        _train_at(epoch)
    lam = ref_lambda(epoch, 10) if epoch is not None else 1.0
    loss(zs, zt, y).backward()
    # autograd on a copy without reversal
    theta = loss.theta.detach().clone().requires_grad_()
    plain = 0.9 * kd_loss(zs, zt, 1 + 20 * torch.sigmoid(theta))
    (g_plain, ) = torch.autograd.grad(plain, theta)
    assert loss.theta.grad.item() == pytest.approx(
        -lam * g_plain.item(), rel=1e-9, abs=1e-15)
    fd = 0.9 * _fd_grad(zs.numpy(), zt.numpy(), theta.item(), ref_kd)
    assert g_plain.item() == pytest.approx(fd, rel=1e-5)


def test_dkd_temperature_gradient_reversed():
    zs, zt, y = _batch(seed=6)
    loss = CTKDLoss(base='dkd', init_temperature=2.5).double()
    _train_at(epoch=4)  # lambda 0.5
    loss(zs, zt, y).backward()
    fd = _fd_grad(zs.numpy(), zt.numpy(), loss.theta.item(),
                  lambda a, b, t: ref_dkd(a, b, y.numpy(), 1, 2, t))
    assert loss.theta.grad.item() == pytest.approx(-0.5 * fd, rel=1e-5)


@pytest.mark.parametrize('base', ['kd', 'dkd'])
def test_student_gets_plain_gradient_teacher_none(base):
    zs, zt, y = _batch(seed=7)
    zs.requires_grad_()
    zt.requires_grad_()
    loss = CTKDLoss(base=base).double()
    _train_at(epoch=2)
    loss(zs, zt, y).backward()
    zs2 = zs.detach().clone().requires_grad_()
    t = loss.temperature
    ref = (kd_loss(zs2, zt, t) if base == 'kd' else
           dkd_loss(zs2, zt, y, 1.0, 2.0, t))
    ref.backward()
    torch.testing.assert_close(zs.grad, zs2.grad, rtol=1e-10, atol=1e-14)
    assert zt.grad is None
    assert zs.grad.abs().sum() > 0


def test_grl_function_alone():
    x = torch.tensor([1.0, -2.0], requires_grad=True)
    y = GradientReversal.apply(x, 0.3)
    assert torch.equal(y, x.detach())
    (y * torch.tensor([2.0, 5.0])).sum().backward()
    torch.testing.assert_close(x.grad, torch.tensor([-0.6, -1.5]))


def test_sgd_step_raises_the_distillation_loss():
    zs, zt, y = _batch(seed=8)
    loss = CTKDLoss(init_temperature=4.0).double()
    opt = torch.optim.SGD(loss.parameters(), lr=0.5)
    assert [n for n, _ in loss.named_parameters()] == ['theta']
    before = loss(zs, zt, y)
    before.backward()
    opt.step()
    assert loss(zs, zt, y).item() > before.item()


# ----------------------------------------------------------- curriculum
def test_lambda_schedule_from_message_hub():
    loss = CTKDLoss()
    assert loss.grl_lambda() == 1.0  # no loop running
    for epoch, expect in ((0, (1 - math.cos(math.pi / 10)) / 2), (4, 0.5),
                          (9, 1.0), (30, 1.0)):
        _train_at(epoch)
        assert loss.grl_lambda() == pytest.approx(expect, abs=1e-12)
        assert loss.grl_lambda() == pytest.approx(ref_lambda(epoch, 10))
    MessageHub.get_current_instance().update_info('loop_stage', 'val')
    assert loss.grl_lambda() == 1.0
    ranged = CTKDLoss(lambda_min=0.2, lambda_max=0.6, curriculum_epochs=5)
    assert ranged.grl_lambda(epoch=1) == pytest.approx(
        ref_lambda(1, 5, 0.2, 0.6))
    assert ranged.grl_lambda(epoch=1) == pytest.approx(
        0.2 + 0.4 * (1 - math.cos(math.pi * 2 / 5)) / 2)
    assert CTKDLoss(curriculum_epochs=0).grl_lambda(epoch=0) == 1.0


def test_lambda_schedule_by_iterations():
    loss = CTKDLoss(curriculum_iters=100)
    assert loss.grl_lambda() == 1.0
    _train_at(epoch=0, it=49)
    assert loss.grl_lambda() == pytest.approx(0.5)
    _train_at(it=0)
    assert loss.grl_lambda() == pytest.approx(
        (1 - math.cos(math.pi / 100)) / 2)
    _train_at(it=500)
    assert loss.grl_lambda() == 1.0


# ------------------------------------------------------------- robustness
@pytest.mark.parametrize('base', ['kd', 'dkd'])
def test_finite_for_extreme_and_saturated_logits(base):
    zs = torch.tensor([[1e4, -1e4, 0.], [-1e4, 1e4, 3.]],
                      requires_grad=True)
    zt = torch.tensor([[-1e4, 1e4, 0.], [-1e4, 1e4, -1e4]])
    y = torch.tensor([1, 1])  # the teacher's target is saturated
    loss = CTKDLoss(base=base, init_temperature=1.01)
    out = loss(zs, zt, y)
    out.backward()
    assert torch.isfinite(out)
    assert torch.isfinite(zs.grad).all()
    assert torch.isfinite(loss.theta.grad)


def test_identical_logits_give_zero():
    zs, _, y = _batch(seed=9)
    assert CTKDLoss()(zs, zs.clone(), y).item() == pytest.approx(0, abs=1e-12)
    assert CTKDLoss(base='dkd')(zs, zs.clone(), y).item() == pytest.approx(
        0, abs=1e-12)


def test_build_from_registry():
    loss = _build(dict(type='CTKDLoss', base='dkd'))
    assert isinstance(loss, CTKDLoss) and loss.base == 'dkd'


@pytest.mark.parametrize('kwargs,name', [
    (dict(base='crd'), 'base'), (dict(t_start=0.0), 't_start'),
    (dict(t_range=-1.0), 't_range'), (dict(init_temperature=0.5),
                                      'init_temperature'),
    (dict(init_temperature=21.0), 'init_temperature'),
    (dict(lambda_min=0.8, lambda_max=0.5), 'lambda_min'),
    (dict(lambda_min=-0.1), 'lambda_min'),
    (dict(curriculum_epochs=2.5), 'curriculum_epochs'),
    (dict(curriculum_epochs=-1), 'curriculum_epochs'),
    (dict(curriculum_iters=-3), 'curriculum_iters')])
def test_bad_arguments(kwargs, name):
    with pytest.raises(ValueError, match=f'CTKDLoss: {name}'):
        CTKDLoss(**kwargs)


def test_dkd_needs_labels():
    zs, zt, _ = _batch()
    with pytest.raises(ValueError, match='needs labels'):
        CTKDLoss(base='dkd')(zs, zt)


def test_distiller_logs_the_learned_temperature():
    """The distiller adds the loss's log_vars (not summed: no "loss" in the
    name) and mmengine's parse_losses logs them."""
    from mmengine.registry import init_default_scope
    from mmpretrain.structures import DataSample

    from mmrskd.models import ClsDistiller
    init_default_scope('mmpretrain')
    net = dict(type='ImageClassifier',
               backbone=dict(type='ResNet', depth=18, out_indices=(3, )),
               neck=dict(type='GlobalAveragePooling'),
               head=dict(type='LinearClsHead', num_classes=3,
                         in_channels=512))
    model = ClsDistiller(student=net, teacher=net, allow_random_teacher=True,
                         distill_losses=dict(loss_ctkd=dict(
                             type='CTKDLoss', init_temperature=4.0)))
    data = model.data_preprocessor(dict(
        inputs=[torch.zeros(3, 32, 32, dtype=torch.uint8)] * 2,
        data_samples=[DataSample().set_gt_label(i) for i in range(2)]), True)
    losses = model(**data, mode='loss')
    assert losses['ctkd_temperature'].item() == pytest.approx(4.0)
    total, log_vars = model.parse_losses(losses)
    assert log_vars['ctkd_temperature'] == pytest.approx(4.0)
    assert total.item() == pytest.approx(
        (losses['loss_cls'] + losses['loss_ctkd']).item())
