import numpy as np
import pytest
import torch
import torch.nn as nn
from mmdet.registry import MODELS

from mmrskd.models.det.losses.cwd_loss import CWDLoss, cwd_loss


# ------------------------------------------- float64 numpy reference
def np_softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)

def _build(cfg):
    """Build from mmdet's registry whatever default scope an earlier test
    left (a classification test leaves 'mmpretrain')."""
    with MODELS.switch_scope_and_registry('mmdet') as registry:
        return registry.build(cfg)



def np_cwd(s_levels, t_levels, tau=1.0, weight=1.0):
    """Paper: tau^2 / C * sum_c KL(phi(yT_c) || phi(yS_c)), phi the softmax
    over the H*W positions at tau; averaged over the N images as the codes
    do, summed over the levels."""
    total = 0.0
    for fs, ft in zip(s_levels, t_levels):
        n, c = fs.shape[:2]
        ps = np_softmax(fs.reshape(n, c, -1) / tau)
        pt = np_softmax(ft.reshape(n, c, -1) / tau)
        kl = np.sum(pt * (np.log(pt) - np.log(ps)))
        total += tau**2 * kl / (n * c)
    return weight * total


def np_connector(f, w, gamma, beta, relu=False):
    """1x1 conv (no bias), BatchNorm with batch statistics, optional ReLU."""
    y = np.einsum('nchw,oc->nohw', f, w)
    mean = y.mean((0, 2, 3), keepdims=True)
    var = y.var((0, 2, 3), keepdims=True)
    y = (y - mean) / np.sqrt(var + 1e-5) * gamma[None, :, None, None] \
        + beta[None, :, None, None]
    return np.maximum(y, 0) if relu else y


def _maps(shape, seed, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=dtype)


def _fpn(n, c, sizes, seed, scale=1.0):
    return tuple(scale * _maps((n, c, h, w), seed + i)
                 for i, (h, w) in enumerate(sizes))


@pytest.mark.parametrize('tau', [1.0, 0.5, 4.0])
@pytest.mark.parametrize('n,c,sizes', [(2, 3, [(4, 4)]),
                                       (1, 4, [(6, 5), (3, 3), (2, 1)]),
                                       (3, 2, [(8, 8), (4, 4), (2, 2),
                                               (1, 2), (1, 1)])])
def test_matches_reference(n, c, sizes, tau):
    s, t = _fpn(n, c, sizes, 0, 3.0), _fpn(n, c, sizes, 10, 3.0)
    ref = np_cwd([x.numpy() for x in s], [x.numpy() for x in t], tau, 10.0)
    out = CWDLoss(tau=tau, loss_weight=10.0)(s, t).item()
    assert out == pytest.approx(ref, rel=1e-9)


def test_hand_computed_two_positions():
    # one channel with positions (0, log 3): p_s = (1/4, 3/4); teacher
    # uniform (1/2, 1/2): KL = 1/2 log(2) + 1/2 log(2/3)
    fs = torch.tensor([[[[0.0, np.log(3.0)]]]], dtype=torch.float64)
    ft = torch.zeros(1, 1, 1, 2, dtype=torch.float64)
    expect = 0.5 * np.log(2.0) + 0.5 * np.log(2.0 / 3.0)
    assert cwd_loss([fs], [ft]).item() == pytest.approx(expect, rel=1e-12)


@pytest.mark.parametrize('relu', [False, True])
def test_connector_matches_reference(relu):
    loss = CWDLoss(tau=2.0, student_channels=3, teacher_channels=5,
                   num_levels=2, connector_relu=relu).double()
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in loss.connectors.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=torch.float64))
    s = _fpn(2, 3, [(4, 4), (2, 3)], 20)
    t = _fpn(2, 5, [(4, 4), (2, 3)], 30)
    mapped = []
    for conn, fs in zip(loss.connectors, s):
        w, bn = conn[0].weight[:, :, 0, 0], conn[1]
        mapped.append(np_connector(fs.numpy(), w.detach().numpy(),
                                   bn.weight.detach().numpy(),
                                   bn.bias.detach().numpy(), relu))
    ref = np_cwd(mapped, [x.numpy() for x in t], tau=2.0)
    assert loss(s, t).item() == pytest.approx(ref, rel=1e-9)
    assert isinstance(loss.connectors[0][-1], nn.ReLU) == relu
    assert loss.connectors[0][0].kernel_size == (1, 1)


def test_identities():
    s, t = _fpn(2, 3, [(4, 4), (2, 2)], 40), _fpn(2, 3, [(4, 4), (2, 2)], 50)
    loss = CWDLoss()
    assert loss(s, s).item() == pytest.approx(0, abs=1e-12)
    assert loss(s, t).item() > 0
    # softmax over positions: a per-(image, channel) shift changes nothing
    shift = _maps((2, 3, 1, 1), 60) * 100
    assert loss(tuple(x + shift for x in s), t).item() == pytest.approx(
        loss(s, t).item(), rel=1e-9)
    # levels are summed; a single tensor per network is one level
    assert loss(s, t).item() == pytest.approx(
        sum(loss(a, b).item() for a, b in zip(s, t)), rel=1e-12)


def test_gradients_reach_student_and_connectors_never_teacher():
    for cs, ct in [(3, 3), (3, 4)]:
        loss = CWDLoss(student_channels=cs, teacher_channels=ct,
                       num_levels=2)
        s = tuple(x.float().requires_grad_()
                  for x in _fpn(2, cs, [(4, 4), (2, 2)], 70))
        t = tuple(x.float().requires_grad_()
                  for x in _fpn(2, ct, [(4, 4), (2, 2)], 80))
        loss(s, t).backward()
        assert all(x.grad is not None and x.grad.abs().sum() > 0 for x in s)
        assert all(x.grad is None for x in t)
        for p in loss.parameters():
            assert p.grad is not None and p.grad.abs().sum() > 0
    assert CWDLoss(student_channels=3, teacher_channels=3).connectors is None


def test_extreme_and_saturated_maps_finite():
    fs = (_maps((2, 3, 3, 3), 90).sign() * 1e4).float().requires_grad_()
    ft = (_maps((2, 3, 3, 3), 91).sign() * -1e4).float()
    out = CWDLoss()(fs, ft)
    out.backward()
    assert torch.isfinite(out) and torch.isfinite(fs.grad).all()
    assert out.item() > 1e3  # the student puts ~0 mass where the teacher is
    # a saturated (one-hot) teacher equal to the student: loss 0
    one_hot = torch.full((1, 2, 2, 2), -1e4)
    one_hot[:, :, 0, 0] = 1e4
    assert CWDLoss()(one_hot, one_hot).item() == 0


@pytest.mark.parametrize('s_dtype', [torch.float16, torch.bfloat16])
@pytest.mark.parametrize('channels', [(3, 3), (3, 4)])
def test_half_precision_under_autocast(s_dtype, channels):
    loss = CWDLoss(student_channels=channels[0],
                   teacher_channels=channels[1], num_levels=1)
    fs = _maps((2, channels[0], 4, 4), 92).to(s_dtype).requires_grad_()
    ft = _maps((2, channels[1], 4, 4), 93).float()
    with torch.autocast('cpu', dtype=torch.bfloat16):
        out = loss(fs, ft)
    assert out.dtype == torch.float32 and torch.isfinite(out)
    out.backward()
    assert torch.isfinite(fs.grad).all() and fs.grad.dtype == s_dtype
    assert all(torch.isfinite(p.grad).all() for p in loss.parameters())


def test_builds_from_registry_with_defaults():
    loss = _build(dict(type='CWDLoss'))
    assert loss.tau == 1.0 and loss.loss_weight == 1.0
    assert loss.connectors is None
    loss = _build(dict(type='CWDLoss', student_channels=128))
    assert len(loss.connectors) == 5
    assert loss.connectors[0][0].in_channels == 128
    assert loss.connectors[0][0].out_channels == 256


@pytest.mark.parametrize('kwargs,match', [
    (dict(tau=0), 'tau must be > 0'),
    (dict(student_channels=0), 'student_channels must be a positive'),
    (dict(teacher_channels=2.5), 'teacher_channels must be a positive'),
    (dict(num_levels=0), 'num_levels must be a positive'),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match='CWDLoss: ' + match):
        CWDLoss(**kwargs)


def test_bad_inputs():
    s = _fpn(2, 3, [(4, 4), (2, 2)], 100)
    loss = CWDLoss()
    with pytest.raises(ValueError, match='CWDLoss: got 2 student and 1 '):
        loss(s, s[:1])
    with pytest.raises(ValueError, match='CWDLoss: got 0 student'):
        loss([], [])
    with pytest.raises(ValueError, match='level 1 student has 3 channels, '
                       'the teacher 5; set student_channels'):
        loss(s, (s[0], _maps((2, 5, 2, 2), 101)))
    with pytest.raises(ValueError, match=r'level 0 maps must be \(N, C, H, '
                       r'W\) with the same N, H and W'):
        loss(s[0], s[1])
    with pytest.raises(ValueError, match='level 0 maps must be'):
        loss(s[0], s[0][:1])
    connected = CWDLoss(student_channels=3, teacher_channels=4, num_levels=2)
    with pytest.raises(ValueError, match='got 1 levels but built 2 '
                       'connectors; set num_levels'):
        connected(s[0], _maps((2, 4, 4, 4), 102))
    with pytest.raises(ValueError, match='level 1 has 3 student and 5 '
                       'teacher channels; the connectors map 3 -> 4'):
        connected(s, (_maps((2, 4, 4, 4), 103), _maps((2, 5, 2, 2), 104)))
