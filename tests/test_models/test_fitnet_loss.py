import numpy as np
import pytest
import torch
import torch.nn as nn
from mmpretrain.registry import MODELS

from mmrskd.models.losses.fitnet_loss import FitNetLoss, fitnet_loss


# ------------------------------------------- float64 numpy reference
def np_conv(x, w, b, stride=1, pad=0):
    """Cross-correlation, x (N, C, H, W), w (O, C, kh, kw)."""
    x = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    kh, kw = w.shape[2:]
    ho = (x.shape[2] - kh) // stride + 1
    wo = (x.shape[3] - kw) // stride + 1
    out = np.zeros((x.shape[0], w.shape[0], ho, wo))
    for i in range(ho):
        for j in range(wo):
            patch = x[:, :, i * stride:i * stride + kh,
                      j * stride:j * stride + kw]
            out[:, :, i, j] = np.einsum('nchw,ochw->no', patch, w)
    return out + b[None, :, None, None]


def np_hint(fs, ft, w, b, gamma, beta, relu=True, stride=1, pad=0):
    """mean((relu(BN_train(conv(fs))) - ft)^2), BN with batch statistics."""
    y = np_conv(fs, w, b, stride, pad)
    mean = y.mean((0, 2, 3), keepdims=True)
    var = y.var((0, 2, 3), keepdims=True)
    y = (y - mean) / np.sqrt(var + 1e-5) * gamma[None, :, None, None] \
        + beta[None, :, None, None]
    if relu:
        y = np.maximum(y, 0)
    return np.mean((y - ft)**2)


def _randomise(loss, seed):
    g = torch.Generator().manual_seed(seed)
    loss.double()
    with torch.no_grad():
        for p in loss.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=torch.float64))
    conv, bn = loss.regressor[0], loss.regressor[1]
    return [t.detach().numpy() for t in (conv.weight, conv.bias, bn.weight,
                                         bn.bias)]


def _maps(n, c, h, w, seed, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, c, h, w, generator=g, dtype=dtype)


@pytest.mark.parametrize('shape', [(2, 3, 4, 4, 5), (4, 6, 3, 5, 2)])
@pytest.mark.parametrize('relu', [True, False])
def test_matches_reference_equal_size(shape, relu):
    n, cs, h, w, ct = shape
    loss = FitNetLoss(cs, ct, use_relu=relu, loss_weight=2.5)
    params = _randomise(loss, seed=cs)
    fs, ft = _maps(n, cs, h, w, 1), _maps(n, ct, h, w, 2).relu()
    ref = np_hint(fs.numpy(), ft.numpy(), *params, relu=relu)
    assert loss(fs, ft).item() == pytest.approx(2.5 * ref, rel=1e-9)
    assert isinstance(loss.regressor[0], nn.Conv2d)
    assert loss.regressor[0].kernel_size == (1, 1)


@pytest.mark.parametrize('ssize,tsize,stride,pad', [(8, 4, 2, 1),
                                                    ((6, 5), (4, 4), 1, 0)])
def test_matches_reference_convreg_resize(ssize, tsize, stride, pad):
    loss = FitNetLoss(3, 4, student_size=ssize, teacher_size=tsize)
    params = _randomise(loss, seed=3)
    sh, sw = (ssize, ssize) if isinstance(ssize, int) else ssize
    th, tw = (tsize, tsize) if isinstance(tsize, int) else tsize
    fs, ft = _maps(2, 3, sh, sw, 4), _maps(2, 4, th, tw, 5).relu()
    ref = np_hint(fs.numpy(), ft.numpy(), *params, stride=stride, pad=pad)
    assert loss(fs, ft).item() == pytest.approx(ref, rel=1e-9)


def test_transposed_conv_upsamples_twice():
    loss = FitNetLoss(4, 6, student_size=4, teacher_size=8)
    assert isinstance(loss.regressor[0], nn.ConvTranspose2d)
    fs, ft = _maps(2, 4, 4, 4, 6).float(), _maps(2, 6, 8, 8, 7).float()
    assert torch.isfinite(loss(fs, ft))
    assert loss.regressor(fs).shape == ft.shape


def test_zero_when_regressor_output_is_teacher():
    loss = FitNetLoss(4, 4).double().eval()
    with torch.no_grad():
        loss.regressor[0].weight.copy_(torch.eye(4)[..., None, None])
        loss.regressor[0].bias.zero_()
        loss.regressor[1].running_var.fill_(1 - 1e-5)
    fs = _maps(3, 4, 5, 5, 8)
    assert loss(fs, fs.relu()).item() == pytest.approx(0, abs=1e-12)
    assert loss(fs, fs.relu() + 1).item() == pytest.approx(1, rel=1e-9)
    assert fitnet_loss(fs, fs + 2).item() == pytest.approx(4, rel=1e-12)


def test_gradients_reach_student_and_regressor_never_teacher():
    loss = FitNetLoss(4, 6)
    fs = _maps(2, 4, 5, 5, 9).float().requires_grad_()
    ft = _maps(2, 6, 5, 5, 10).float().requires_grad_()
    loss(fs, ft).backward()
    assert fs.grad is not None and fs.grad.abs().sum() > 0
    assert ft.grad is None
    for p in loss.regressor.parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0


@pytest.mark.parametrize('s_dtype', [torch.float16, torch.bfloat16])
def test_amp_autocast_bf16(s_dtype):
    loss = FitNetLoss(4, 6)
    fs = _maps(2, 4, 5, 5, 11).to(s_dtype).requires_grad_()
    ft = _maps(2, 6, 5, 5, 12).float()
    with torch.autocast('cpu', dtype=torch.bfloat16):
        out = loss(fs, ft)
    assert out.dtype == torch.float32 and torch.isfinite(out)
    out.backward()
    for p in loss.regressor.parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all()
        assert p.grad.abs().sum() > 0
    assert torch.isfinite(fs.grad).all()


def test_plain_fp16_input_without_autocast():
    loss = FitNetLoss(4, 6)
    fs = _maps(2, 4, 5, 5, 13).half().requires_grad_()
    ref = FitNetLoss(4, 6)
    ref.load_state_dict(loss.state_dict())
    ft = _maps(2, 6, 5, 5, 14).float()
    out = loss(fs, ft)
    assert out.dtype == torch.float32 and torch.isfinite(out)
    assert out.item() == pytest.approx(ref(fs.detach().float(), ft).item(),
                                       rel=1e-6)
    out.backward()
    assert all(torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0
               for p in loss.regressor.parameters())
    assert fs.grad.dtype == torch.float16


def test_extreme_features_finite():
    loss = FitNetLoss(4, 4)
    fs = (_maps(2, 4, 3, 3, 15).sign() * 1e4).float().requires_grad_()
    out = loss(fs, torch.full((2, 4, 3, 3), 1e4))
    out.backward()
    assert torch.isfinite(out) and torch.isfinite(fs.grad).all()


def test_builds_from_registry_with_defaults():
    loss = MODELS.build(dict(type='FitNetLoss'))
    assert loss.loss_weight == 1.0 and loss.regressor[0].in_channels == 128
    assert isinstance(loss.regressor[2], nn.ReLU)
    fs, ft = torch.randn(2, 128, 2, 2), torch.randn(2, 128, 2, 2)
    assert torch.isfinite(loss(fs, ft))


@pytest.mark.parametrize('kwargs,match', [
    (dict(student_channels=0), 'student_channels must be a positive'),
    (dict(teacher_channels=2.5), 'teacher_channels must be a positive'),
    (dict(student_size=8), 'give both student_size and teacher_size'),
    (dict(student_size=3, teacher_size=8), 'cannot regress a student map'),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match='FitNetLoss: ' + match):
        FitNetLoss(**kwargs)


def test_bad_inputs():
    loss = FitNetLoss(4, 6)
    with pytest.raises(ValueError, match=r'student map must be \(N, 4'):
        loss(torch.randn(2, 5, 3, 3), torch.randn(2, 6, 3, 3))
    with pytest.raises(ValueError, match=r'teacher map must be \(N, 6'):
        loss(torch.randn(2, 4, 3, 3), torch.randn(2, 4, 3, 3))
    with pytest.raises(ValueError, match='set student_size and teacher_size'):
        loss(torch.randn(2, 4, 6, 6), torch.randn(2, 6, 3, 3))
