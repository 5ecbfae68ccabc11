import numpy as np
import pytest
import torch
from mmpretrain.registry import MODELS

from mmrskd.models.losses.at_loss import ATLoss, at_loss, attention_map


# ------------------------------------------- float64 numpy reference
def np_attention(f, p):
    """Paper: Q = sum_c |A_c|^p, vectorised, divided by its L2 norm (the
    mean over channels of the code differs by C, removed by the norm)."""
    q = (np.abs(f)**p).sum(1).reshape(f.shape[0], -1)
    return q / np.linalg.norm(q, axis=1, keepdims=True)


def np_block_mean(f, size):
    """Average pooling for sizes that divide the map."""
    n, c, h, w = f.shape
    oh, ow = size
    return f.reshape(n, c, oh, h // oh, ow, w // ow).mean((3, 5))


def np_at(s_layers, t_layers, p=2.0, beta=1000.0):
    """beta * sum_j (1 / (N * HW)) sum_n ||a_s,n - a_t,n||_2^2."""
    total = 0.0
    for fs, ft in zip(s_layers, t_layers):
        size = (min(fs.shape[2], ft.shape[2]), min(fs.shape[3], ft.shape[3]))
        fs, ft = np_block_mean(fs, size), np_block_mean(ft, size)
        d = np_attention(fs, p) - np_attention(ft, p)
        total += np.sum(d**2) / (d.shape[0] * d.shape[1])
    return beta * total


def _maps(shape, seed, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=dtype)


@pytest.mark.parametrize('p', [2.0, 1.0, 3.0])
@pytest.mark.parametrize('s_shape,t_shape', [
    ((3, 4, 5, 5), (3, 8, 5, 5)), ((2, 6, 4, 7), (2, 3, 4, 7)),
    ((2, 4, 8, 8), (2, 5, 4, 4)), ((2, 3, 6, 4), (2, 5, 3, 8))])
def test_single_layer_matches_reference(s_shape, t_shape, p):
    fs, ft = _maps(s_shape, 0), _maps(t_shape, 1)
    ref = np_at([fs.numpy()], [ft.numpy()], p)
    assert ATLoss(p=p)(fs, ft).item() == pytest.approx(ref, rel=1e-9)


def test_layers_are_summed_and_match_reference():
    s = [_maps((2, 4, 8, 8), 2), _maps((2, 8, 4, 4), 3), _maps((2, 16, 2, 2),
                                                               4)]
    t = [_maps((2, 6, 8, 8), 5), _maps((2, 6, 4, 4), 6), _maps((2, 6, 4, 4),
                                                               7)]
    ref = np_at([x.numpy() for x in s], [x.numpy() for x in t], beta=3.0)
    loss = ATLoss(loss_weight=3.0)
    assert loss(tuple(s), tuple(t)).item() == pytest.approx(ref, rel=1e-9)
    assert loss(s, t).item() == pytest.approx(
        sum(loss(a, b).item() for a, b in zip(s, t)), rel=1e-12)


def test_hand_computed_two_positions():
    # one channel, positions (1, 0) -> a = (1, 0); teacher (1, 1) ->
    # a = (1, 1) / sqrt(2); mean over 2 positions of the squared difference
    fs = torch.tensor([[[[1.0, 0.0]]]], dtype=torch.float64)
    ft = torch.tensor([[[[1.0, 1.0]]]], dtype=torch.float64)
    r = 1 / np.sqrt(2)
    expect = ((1 - r)**2 + r**2) / 2
    assert at_loss([fs], [ft]).item() == pytest.approx(expect, rel=1e-12)


def test_identities():
    fs, ft = _maps((3, 4, 5, 5), 8), _maps((3, 6, 5, 5), 9)
    loss = ATLoss()
    assert loss(fs, fs).item() == 0
    base = loss(fs, ft).item()
    assert base > 0
    # invariant to the scale of either map (each map is normalised) ...
    assert loss(7.0 * fs, ft).item() == pytest.approx(base, rel=1e-9)
    assert loss(fs, 0.1 * ft).item() == pytest.approx(base, rel=1e-9)
    # ... to the sign and the order of channels, and to repeating them
    assert loss(-fs.flip(1), ft).item() == pytest.approx(base, rel=1e-9)
    assert loss(torch.cat([fs, fs], 1), ft).item() == pytest.approx(
        base, rel=1e-9)
    a = attention_map(fs)
    assert torch.allclose(a.norm(dim=1), torch.ones(3, dtype=fs.dtype))
    # upper bound: unit vectors are at most 2 apart (mean <= 4 / HW)
    assert base <= 1000 * 4 / 25


def test_gradients_reach_student_never_teacher():
    fs = _maps((2, 4, 6, 6), 10).float().requires_grad_()
    ft = _maps((2, 8, 3, 3), 11).float().requires_grad_()
    ATLoss()(fs, ft).backward()
    assert fs.grad is not None and fs.grad.abs().sum() > 0
    assert ft.grad is None


@pytest.mark.parametrize('dtype', [torch.float16, torch.bfloat16])
def test_half_precision_and_autocast(dtype):
    fs = (_maps((2, 4, 6, 6), 12) * 200).to(dtype).requires_grad_()
    ft = _maps((2, 8, 6, 6), 13).float()
    ref = ATLoss()(fs.detach().double(), ft.double()).item()
    out = ATLoss()(fs, ft)  # |f|^2 ~ 4e5 > fp16 max: needs float32
    assert out.dtype == torch.float32
    assert out.item() == pytest.approx(ref, rel=1e-5)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        out = ATLoss()(fs, ft)
    out.backward()
    assert torch.isfinite(out) and torch.isfinite(fs.grad).all()


def test_extreme_and_zero_maps_finite():
    fs = (_maps((2, 3, 4, 4), 14).sign() * 1e4).float().requires_grad_()
    out = ATLoss()(fs, torch.zeros(2, 5, 4, 4))
    out.backward()
    assert torch.isfinite(out) and torch.isfinite(fs.grad).all()
    zero = torch.zeros(2, 3, 4, 4, requires_grad=True)
    out = ATLoss()(zero, _maps((2, 5, 4, 4), 15).float())
    out.backward()
    assert torch.isfinite(out) and torch.isfinite(zero.grad).all()


def test_builds_from_registry_with_defaults():
    loss = MODELS.build(dict(type='ATLoss'))
    assert loss.p == 2.0 and loss.loss_weight == 1000.0


def test_bad_arguments_and_inputs():
    with pytest.raises(ValueError, match='ATLoss: p must be > 0, got 0'):
        ATLoss(p=0)
    loss = ATLoss()
    x = torch.randn(2, 3, 4, 4)
    with pytest.raises(ValueError, match='ATLoss: got 2 student and 1 '):
        loss([x, x], [x])
    with pytest.raises(ValueError, match='at least one'):
        loss([], [])
    with pytest.raises(ValueError, match=r'ATLoss: maps must be \(N, C'):
        loss(x.flatten(2), x)
    with pytest.raises(ValueError, match='with the same N'):
        loss(x, x[:1])
