"""MGDLoss (Yang et al., ECCV 2022) against a float64 numpy reference of
``alpha * sum_l sum (G(align(fs) * M) - ft)^2 / N`` with the masks given
explicitly (or redrawn from the same random stream)."""
import numpy as np
import pytest
import torch
from mmdet.registry import MODELS

from mmrskd.models.det.losses.mgd_loss import (MGDLoss, mgd_loss,
                                               mgd_random_mask)


# ------------------------------------------------------ numpy reference
def np_conv(x, w, b):
    """Stride-1 'same' convolution (odd kernel), cross-correlation."""
    k = w.shape[-1]
    pad = k // 2
    n, _, h, wd = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    out = np.zeros((n, w.shape[0], h, wd))
    for i in range(k):
        for j in range(k):
            out += np.einsum('oc,nchw->nohw', w[:, :, i, j],
                             xp[:, :, i:i + h, j:j + wd])
    return out + b[None, :, None, None]

def _build(cfg):
    """Build from mmdet's registry whatever default scope an earlier test
    left (a classification test leaves 'mmpretrain')."""
    with MODELS.switch_scope_and_registry('mmdet') as registry:
        return registry.build(cfg)



def _np(t):
    return t.detach().double().numpy()


def ref_level(fs, ft, mask, gen, align=None):
    fs, ft = _np(fs), _np(ft)
    if align is not None:
        fs = np_conv(fs, _np(align.weight), _np(align.bias))
    x = np_conv(fs * mask, _np(gen[0].weight), _np(gen[0].bias))
    x = np_conv(np.maximum(x, 0), _np(gen[2].weight), _np(gen[2].bias))
    return ((x - ft) ** 2).sum() / len(fs)


def ref_mgd(loss, fss, fts, masks, alpha):
    return alpha * sum(
        ref_level(fs, ft, m, loss.generation[lvl],
                  None if loss.align is None else loss.align[lvl])
        for lvl, (fs, ft, m) in enumerate(zip(fss, fts, masks)))


def official_masks(sizes, n, lam, draw):
    """Official rule: R ~ U[0, 1), masked (0) where R > 1 - lambda."""
    return [np.where(draw(n, h, w).numpy() > 1 - lam, 0., 1.)
            for h, w in sizes]


# -------------------------------------------------------------- helpers
def _feats(n, c, sizes, seed, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(n, c, h, w, generator=g, dtype=dtype)
            for h, w in sizes]


def _binary_mask(n, h, w, seed):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(n, 1, h, w, generator=g) > 0.5).double()


CASES = [(4, 4, 2, [(6, 6), (3, 3)]), (3, 5, 3, [(5, 7)]),
         (6, 4, 1, [(4, 9), (2, 5), (1, 3)])]


# --------------------------------------------------------------- golden
@pytest.mark.parametrize('cs,ct,n,sizes', CASES)
def test_mgd_level_matches_reference_with_explicit_mask(cs, ct, n, sizes):
    loss = MGDLoss(cs, ct, len(sizes)).double()
    fss, fts = _feats(n, cs, sizes, 1), _feats(n, ct, sizes, 2)
    for lvl, ((h, w), fs, ft) in enumerate(zip(sizes, fss, fts)):
        mask = _binary_mask(n, h, w, 3 + lvl)
        x = fs if loss.align is None else loss.align[lvl](fs)
        got = mgd_loss(x, ft, mask, loss.generation[lvl])
        ref = ref_level(fs, ft, mask.numpy(), loss.generation[lvl],
                        None if loss.align is None else loss.align[lvl])
        assert got.item() == pytest.approx(ref, rel=1e-10)


@pytest.mark.parametrize('cs,ct,n,sizes', CASES)
@pytest.mark.parametrize('alpha,lam', [(2e-5, 0.65), (0.3, 0.45)])
def test_mgd_module_matches_reference_with_seeded_masks(cs, ct, n, sizes,
                                                        alpha, lam):
    loss = MGDLoss(cs, ct, len(sizes), alpha, lam, generator=7).double()
    fss, fts = _feats(n, cs, sizes, 4), _feats(n, ct, sizes, 5)
    g = torch.Generator().manual_seed(7)
    masks = official_masks(sizes, n, lam, lambda n, h, w: torch.rand(
        n, 1, h, w, generator=g))
    ref = ref_mgd(loss, fss, fts, masks, alpha)
    assert loss(fss, fts).item() == pytest.approx(ref, rel=1e-10)
    # the generator advances: the next call draws new masks
    assert loss(fss, fts).item() != pytest.approx(ref, rel=1e-6)


def test_mgd_default_uses_global_generator_as_official():
    sizes = [(5, 6), (3, 3)]
    loss = MGDLoss(4, 4, 2, 0.1, 0.65).double()
    fss, fts = _feats(2, 4, sizes, 6), _feats(2, 4, sizes, 7)
    torch.manual_seed(11)
    masks = official_masks(sizes, 2, 0.65, lambda n, h, w: torch.rand(
        (n, 1, h, w)))
    torch.manual_seed(11)
    got = loss(fss, fts)
    assert got.item() == pytest.approx(ref_mgd(loss, fss, fts, masks, 0.1),
                                       rel=1e-10)
    torch.manual_seed(12)
    assert loss(fss, fts).item() != pytest.approx(got.item(), rel=1e-6)


def test_mgd_private_generator_leaves_global_stream_alone():
    sizes = [(4, 4)]
    fss, fts = _feats(2, 4, sizes, 8), _feats(2, 4, sizes, 9)
    a = MGDLoss(4, 4, 1, generator=torch.Generator().manual_seed(3)).double()
    b = MGDLoss(4, 4, 1, generator=3).double()
    b.load_state_dict(a.state_dict())
    state = torch.get_rng_state()
    assert a(fss, fts).item() == b(fss, fts).item()
    assert torch.equal(state, torch.get_rng_state())


# ------------------------------------------------------------------ mask
def test_mgd_random_mask_ratio_and_shape():
    g = torch.Generator().manual_seed(0)
    m = mgd_random_mask(4, 64, 64, 0.65, g)
    assert m.shape == (4, 1, 64, 64) and set(m.unique().tolist()) <= {0, 1}
    assert 1 - m.mean().item() == pytest.approx(0.65, abs=0.02)
    assert mgd_random_mask(2, 8, 8, 0.0, g).eq(1).all()
    assert mgd_random_mask(2, 8, 8, 1.0, g).eq(0).all()


# ----------------------------------------------------------- identities
def test_mgd_fully_masked_student_gets_no_gradient():
    loss = MGDLoss(4, 4, 1, 1.0, lambda_mgd=1.0, generator=0)
    fs = _feats(2, 4, [(5, 5)], 10, torch.float32)[0].requires_grad_()
    ft = _feats(2, 4, [(5, 5)], 11, torch.float32)[0]
    out = loss([fs], [ft])
    out.backward()
    assert fs.grad.abs().sum() == 0
    # G then only sees zeros: the loss is that of G(0)
    zero = mgd_loss(torch.zeros_like(fs), ft, torch.ones(2, 1, 5, 5),
                    loss.generation[0])
    assert out.item() == pytest.approx(zero.item(), rel=1e-6)


def test_mgd_unmasked_equals_explicit_ones_mask():
    loss = MGDLoss(4, 4, 1, 1.0, lambda_mgd=0.0).double()
    fs, ft = _feats(2, 4, [(5, 5)], 12)[0], _feats(2, 4, [(5, 5)], 13)[0]
    ref = ref_level(fs, ft, np.ones((2, 1, 5, 5)), loss.generation[0])
    assert loss([fs], [ft]).item() == pytest.approx(ref, rel=1e-10)


# ------------------------------------------------------------ gradients
def test_mgd_gradients_reach_student_and_learned_parts_only():
    loss = MGDLoss(3, 4, 2, 1.0, generator=1)
    sizes = [(6, 6), (3, 3)]
    fss = [f.requires_grad_() for f in _feats(2, 3, sizes, 14,
                                              torch.float32)]
    fts = [f.requires_grad_() for f in _feats(2, 4, sizes, 15,
                                              torch.float32)]
    loss(fss, fts).backward()
    assert all(f.grad.abs().sum() > 0 for f in fss)
    assert all(f.grad is None for f in fts)
    for name, p in loss.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


# ------------------------------------------------------- AMP / extremes
def test_mgd_bf16_autocast_with_fp16_student():
    loss = MGDLoss(3, 4, 2, generator=2)
    sizes = [(6, 6), (3, 3)]
    fss = [f.half().requires_grad_() for f in _feats(2, 3, sizes, 16,
                                                     torch.float32)]
    fts = _feats(2, 4, sizes, 17, torch.float32)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        out = loss(fss, fts)
    assert out.dtype == torch.float32 and torch.isfinite(out)
    out.backward()
    assert all(torch.isfinite(f.grad).all() and f.grad.abs().sum() > 0
               for f in fss)
    for name, p in loss.named_parameters():
        assert p.grad.dtype == torch.float32, name
        assert torch.isfinite(p.grad).all(), name


def test_mgd_finite_for_extreme_maps():
    loss = MGDLoss(4, 4, 1, generator=3)
    fs = torch.full((2, 4, 5, 5), 1e4, requires_grad=True)
    out = loss([fs], [torch.full((2, 4, 5, 5), -1e4)])
    out.backward()
    assert torch.isfinite(out) and torch.isfinite(fs.grad).all()


# ------------------------------------------------------------ arguments
def test_mgd_registry_defaults():
    loss = _build(dict(type='MGDLoss'))
    assert (loss.alpha_mgd, loss.lambda_mgd) == (0.00002, 0.65)
    assert loss.num_levels == 5 and loss.align is None
    assert loss.generator is None
    gen = loss.generation[0]
    assert [type(m) for m in gen] == [torch.nn.Conv2d, torch.nn.ReLU,
                                      torch.nn.Conv2d]
    assert gen[0].kernel_size == (3, 3) and gen[0].in_channels == 256
    assert _build(dict(type='MGDLoss', student_channels=128,
                             generator=0)).align[4].kernel_size == (1, 1)


@pytest.mark.parametrize('kwargs', [
    dict(alpha_mgd=-1.), dict(lambda_mgd=-0.1), dict(lambda_mgd=1.5),
    dict(num_levels=0), dict(teacher_channels=0), dict(student_channels=1.),
    dict(generator='seed'), dict(generator=True)])
def test_mgd_bad_constructor_args(kwargs):
    with pytest.raises(ValueError, match='MGDLoss'):
        MGDLoss(**kwargs)


def test_mgd_bad_call_args():
    loss = MGDLoss(4, 4, 2).double()
    f, t = _feats(2, 4, [(6, 6), (3, 3)], 18), _feats(2, 4, [(6, 6), (3, 3)],
                                                      19)
    bad = [(f[:1], t), (f, t[:1]), (f, [t[0], t[0]]),
           (f, [x[:, :3] for x in t]), (f, [x[:1] for x in t]),
           ([x[0] for x in f], t)]
    for args in bad:
        with pytest.raises(ValueError, match='MGDLoss'):
            loss(*args)
