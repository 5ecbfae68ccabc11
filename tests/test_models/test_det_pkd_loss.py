import numpy as np
import pytest
import torch
from mmdet.registry import MODELS

from mmrskd.models.det.losses.pkd_loss import PKDLoss, pkd_loss, pkd_norm


# ------------------------------------------- float64 numpy reference
def np_norm(f, eps=1e-6):
    """Each channel standardised over its N*H*W values (unbiased std)."""
    mean = f.mean((0, 2, 3), keepdims=True)
    std = f.std((0, 2, 3), ddof=1, keepdims=True)
    return (f - mean) / (std + eps)

def _build(cfg):
    """Build from mmdet's registry whatever default scope an earlier test
    left (a classification test leaves 'mmpretrain')."""
    with MODELS.switch_scope_and_registry('mmdet') as registry:
        return registry.build(cfg)



def np_bilinear(f, size):
    """Bilinear resize, half-pixel centres (align_corners=False)."""
    def taps(n_in, n_out):
        src = np.maximum((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0)
        i0 = np.floor(src).astype(int)
        i1 = np.minimum(i0 + 1, n_in - 1)
        return i0, i1, src - i0
    y0, y1, ly = taps(f.shape[2], size[0])
    x0, x1, lx = taps(f.shape[3], size[1])
    rows = f[:, :, y0] * (1 - ly)[:, None] + f[:, :, y1] * ly[:, None]
    return rows[..., x0] * (1 - lx) + rows[..., x1] * lx


def np_pkd(s_levels, t_levels, weight=1.0, resize_stu=True):
    """weight * sum_l 1/(2 N C H W) * ||norm(fs) - norm(ft)||^2."""
    total = 0.0
    for fs, ft in zip(s_levels, t_levels):
        if fs.shape[2:] != ft.shape[2:]:
            if resize_stu:
                fs = np_bilinear(fs, ft.shape[2:])
            else:
                ft = np_bilinear(ft, fs.shape[2:])
        total += np.sum((np_norm(fs) - np_norm(ft))**2) / (2 * fs.size)
    return weight * total


def np_pearson(a, b):
    """Mean over channels of the Pearson r of the N*H*W values."""
    a = a.transpose(1, 0, 2, 3).reshape(a.shape[1], -1)
    b = b.transpose(1, 0, 2, 3).reshape(b.shape[1], -1)
    return np.mean([np.corrcoef(x, y)[0, 1] for x, y in zip(a, b)])


def _maps(shape, seed, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=dtype)


def _fpn(n, c, sizes, seed):
    return tuple(_maps((n, c, h, w), seed + i) for i, (h, w) in
                 enumerate(sizes))


@pytest.mark.parametrize('n,c,sizes', [(2, 3, [(4, 4)]),
                                       (1, 4, [(6, 5), (3, 3), (2, 1)]),
                                       (3, 2, [(8, 8), (4, 4), (2, 2),
                                               (1, 1), (1, 1)])])
def test_matches_reference(n, c, sizes):
    s, t = _fpn(n, c, sizes, 0), _fpn(n, c, sizes, 10)
    ref = np_pkd([x.numpy() for x in s], [x.numpy() for x in t], 6.0)
    assert PKDLoss(loss_weight=6.0)(s, t).item() == pytest.approx(ref,
                                                                  rel=1e-9)


@pytest.mark.parametrize('resize_stu', [True, False])
@pytest.mark.parametrize('s_size,t_size', [((8, 8), (4, 4)),
                                           ((3, 5), (6, 4))])
def test_resize_matches_reference(s_size, t_size, resize_stu):
    fs, ft = _maps((2, 3, *s_size), 1), _maps((2, 3, *t_size), 2)
    ref = np_pkd([fs.numpy()], [ft.numpy()], resize_stu=resize_stu)
    out = PKDLoss(resize_stu=resize_stu)(fs, ft).item()
    assert out == pytest.approx(ref, rel=1e-9)


def test_equals_one_minus_pearson():
    fs, ft = _maps((2, 4, 3, 5), 3), _maps((2, 4, 3, 5), 4)
    ft = ft + 0.7 * fs  # correlated
    m = 2 * 3 * 5
    r = np_pearson(fs.numpy(), ft.numpy())
    assert 0.2 < r < 0.9
    out = pkd_loss([fs], [ft], eps=0.).item()
    assert out == pytest.approx((1 - 1 / m) * (1 - r), rel=1e-10)
    assert pkd_loss([fs], [fs], eps=0.).item() == pytest.approx(0, abs=1e-12)
    assert pkd_loss([fs], [-fs], eps=0.).item() == pytest.approx(
        2 * (1 - 1 / m), rel=1e-10)


def test_invariant_to_per_channel_affine_maps():
    fs, ft = _maps((2, 3, 4, 4), 5), _maps((2, 3, 4, 4), 6)
    scale = torch.tensor([0.01, 3.0, 250.0], dtype=torch.float64)
    shift = torch.tensor([-5.0, 0.5, 1e3], dtype=torch.float64)
    scale, shift = scale[:, None, None], shift[:, None, None]
    base = pkd_loss([fs], [ft], eps=0.).item()
    for a, b in [(fs * scale + shift, ft), (fs, ft * scale - shift)]:
        assert pkd_loss([a], [b], eps=0.).item() == pytest.approx(base,
                                                                  rel=1e-10)
    # with the default eps = 1e-6 up to eps / std
    assert PKDLoss()(fs * scale + shift, ft).item() == pytest.approx(
        base, rel=1e-3)
    # a negative scale flips the channel's correlation
    flip = torch.tensor([1., -1., 1.], dtype=torch.float64)[:, None, None]
    assert pkd_loss([fs * flip], [ft], eps=0.).item() != pytest.approx(
        base, rel=1e-3)
    # the statistics are over the batch: a per-image shift changes it
    per_image = fs + torch.tensor([0., 3.], dtype=torch.float64)[:, None,
                                                                  None, None]
    assert abs(pkd_loss([per_image], [ft]).item() - base) > 1e-2


def test_norm_statistics():
    f = _maps((3, 2, 4, 5), 7) * 4 + 2
    z = pkd_norm(f)
    assert torch.allclose(z.mean((0, 2, 3)), torch.zeros(2, dtype=f.dtype),
                          atol=1e-12)
    assert torch.allclose(z.std((0, 2, 3)), torch.ones(2, dtype=f.dtype),
                          atol=1e-6)


def test_levels_are_summed_and_single_tensor_accepted():
    s, t = _fpn(2, 3, [(4, 4), (2, 2)], 20), _fpn(2, 3, [(4, 4), (2, 2)], 30)
    loss = PKDLoss(loss_weight=2.0)
    assert loss(s, t).item() == pytest.approx(
        sum(loss(a, b).item() for a, b in zip(s, t)), rel=1e-12)
    assert loss(list(s), list(t)).item() == loss(s, t).item()


def test_gradients_reach_student_never_teacher():
    fs = _maps((2, 3, 4, 4), 8).float().requires_grad_()
    ft = _maps((2, 3, 2, 2), 9).float().requires_grad_()
    PKDLoss()((fs, ), (ft, )).backward()
    assert fs.grad is not None and fs.grad.abs().sum() > 0
    assert ft.grad is None


def test_extreme_and_constant_maps_finite():
    fs = (_maps((2, 3, 3, 3), 10).sign() * 1e4).float().requires_grad_()
    ft = (_maps((2, 3, 3, 3), 11) * 1e4).float()
    out = PKDLoss()(fs, ft)
    out.backward()
    assert torch.isfinite(out) and torch.isfinite(fs.grad).all()
    # constant student channels and a single value per channel (M = 1)
    for shape in [(2, 3, 3, 3), (1, 3, 1, 1)]:
        fs = torch.full(shape, 5.0, requires_grad=True)
        out = PKDLoss()(fs, _maps(shape, 12).float())
        out.backward()
        assert torch.isfinite(out) and torch.isfinite(fs.grad).all()
    assert out.item() == 0


@pytest.mark.parametrize('s_dtype', [torch.float16, torch.bfloat16])
def test_half_precision_student(s_dtype):
    fs = _maps((2, 3, 4, 4), 13).to(s_dtype).requires_grad_()
    ft = _maps((2, 3, 4, 4), 14).float()
    with torch.autocast('cpu', dtype=torch.bfloat16):
        out = PKDLoss()(fs, ft)
    assert out.dtype == torch.float32
    ref = PKDLoss()(fs.detach().float(), ft)
    assert out.item() == pytest.approx(ref.item(), rel=1e-6)
    out.backward()
    assert torch.isfinite(fs.grad).all() and fs.grad.dtype == s_dtype


def test_builds_from_registry_with_defaults():
    loss = _build(dict(type='PKDLoss'))
    assert loss.loss_weight == 1.0 and loss.resize_stu is True


def test_bad_arguments_and_inputs():
    with pytest.raises(ValueError, match='PKDLoss: loss_weight must be'):
        PKDLoss(loss_weight=-1)
    loss = PKDLoss()
    s = _fpn(2, 3, [(4, 4), (2, 2)], 40)
    with pytest.raises(ValueError, match='PKDLoss: got 2 student and 1 '):
        loss(s, s[:1])
    with pytest.raises(ValueError, match='PKDLoss: got 0 student'):
        loss((), ())
    with pytest.raises(ValueError, match='level 1 student has 3 channels, '
                       'the teacher 5; PKD pairs channels one to one'):
        loss(s, (s[0], _maps((2, 5, 2, 2), 41)))
    with pytest.raises(ValueError, match=r'level 0 maps must be \(N, C, H'):
        loss(s[0], s[0][:1])
    with pytest.raises(ValueError, match=r'level 0 maps must be \(N, C, H'):
        loss(s[0].flatten(2), s[0].flatten(2))
