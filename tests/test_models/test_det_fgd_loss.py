"""FGDLoss (Yang et al., CVPR 2022) against a float64 numpy reference written
from the paper's equations and the official code's conventions (sums / N,
official box-to-cell mapping, separate student / teacher context blocks)."""
import math

import numpy as np
import pytest
import torch
from mmdet.registry import MODELS

from mmrskd.models.det.losses.fgd_context import GlobalContext
from mmrskd.models.det.losses.fgd_loss import (FGDLoss, fgd_attention,
                                               fgd_focal_terms)
from mmrskd.models.det.losses.fgd_masks import fgd_masks


# ------------------------------------------------------ numpy reference
def np_softmax(x, axis):
    e = np.exp(x - x.max(axis, keepdims=True))
    return e / e.sum(axis, keepdims=True)

def _build(cfg):
    """Build from mmdet's registry whatever default scope an earlier test
    left (a classification test leaves 'mmpretrain')."""
    with MODELS.switch_scope_and_registry('mmdet') as registry:
        return registry.build(cfg)



def ref_attention(f, t):
    n, c, h, w = f.shape
    a = np.abs(f)
    sp = h * w * np_softmax(a.mean(1).reshape(n, -1) / t, 1)
    return sp.reshape(n, h, w), c * np_softmax(a.mean((2, 3)) / t, 1)


def ref_masks(boxes, shapes, h, w):
    """Official loop: floor/ceil cells, inclusive slices, max of 1/area."""
    n = len(boxes)
    fg, bg = np.zeros((n, h, w)), np.ones((n, h, w))
    for i, (bs, (ih, iw)) in enumerate(zip(boxes, shapes)):
        for x1, y1, x2, y2 in bs:
            c0, c1 = math.floor(x1 / iw * w), math.ceil(x2 / iw * w)
            r0, r1 = math.floor(y1 / ih * h), math.ceil(y2 / ih * h)
            area = 1.0 / ((r1 + 1 - r0) * (c1 + 1 - c0))
            cell = fg[i, r0:r1 + 1, c0:c1 + 1]
            fg[i, r0:r1 + 1, c0:c1 + 1] = np.maximum(cell, area)
        bg[i] = (fg[i] == 0)
        if bg[i].sum():
            bg[i] /= bg[i].sum()
    return fg, bg


def ref_context(x, p):
    """R(F) = F + W2 relu(LN(W1 sum_j softmax(Wk F)_j F_j))."""
    n, c, h, w = x.shape
    logits = np.einsum('c,nchw->nhw', p['wk'], x).reshape(n, -1) + p['bk']
    ctx = np.einsum('nck,nk->nc', x.reshape(n, c, -1), np_softmax(logits, 1))
    y = ctx @ p['w1'].T + p['b1']
    y = (y - y.mean(1, keepdims=True)) / np.sqrt(y.var(1, keepdims=True)
                                                 + 1e-5)
    y = np.maximum(y * p['g'] + p['beta'], 0)
    return x + (y @ p['w2'].T + p['b2'])[:, :, None, None]


def ctx_params(block):
    d = {k: v.detach().double().numpy() for k, v in block.state_dict().items()}
    return dict(wk=d['conv_mask.weight'][0, :, 0, 0], bk=d['conv_mask.bias'],
                w1=d['channel_add_conv.0.weight'][:, :, 0, 0],
                b1=d['channel_add_conv.0.bias'],
                g=d['channel_add_conv.1.weight'][:, 0, 0],
                beta=d['channel_add_conv.1.bias'][:, 0, 0],
                w2=d['channel_add_conv.3.weight'][:, :, 0, 0],
                b2=d['channel_add_conv.3.bias'])


def ref_terms(fs, ft, fg, bg, t):
    n = len(fs)
    s_t, c_t = ref_attention(ft, t)
    s_s, c_s = ref_attention(fs, t)
    wsq = s_t[:, None] * c_t[:, :, None, None] * (ft - fs) ** 2
    return ((fg[:, None] * wsq).sum() / n, (bg[:, None] * wsq).sum() / n,
            (np.abs(c_s - c_t).sum() + np.abs(s_s - s_t).sum()) / n)


def ref_fgd(loss, fss, fts, boxes, shapes, t, weights):
    total = 0.
    for lvl, (fs, ft) in enumerate(zip(fss, fts)):
        fs, ft = fs.double().numpy(), ft.double().numpy()
        if loss.align is not None:
            a = loss.align[lvl]
            fs = np.einsum('oc,nchw->nohw', a.weight.detach().numpy()[:, :, 0,
                                                                      0], fs)
            fs = fs + a.bias.detach().numpy()[None, :, None, None]
        fg, bg = ref_masks(boxes, shapes, *ft.shape[2:])
        terms = ref_terms(fs, ft, fg, bg, t)
        rs = ref_context(fs, ctx_params(loss.context_s[lvl]))
        rt = ref_context(ft, ctx_params(loss.context_t[lvl]))
        glob = ((rs - rt) ** 2).sum() / len(fs)
        total += sum(w * v for w, v in zip(weights, (*terms, glob)))
    return total


# -------------------------------------------------------------- helpers
def _feats(n, c, sizes, seed, dtype=torch.float64, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(n, c, h, w, generator=g, dtype=dtype) * scale
            for h, w in sizes]


def _boxes(n, shape, seed, counts=None):
    g = torch.Generator().manual_seed(seed)
    h, w = shape
    out = []
    for i in range(n):
        k = 3 if counts is None else counts[i]
        xy = torch.rand(k, 2, generator=g, dtype=torch.float64) * 0.6
        wh = torch.rand(k, 2, generator=g, dtype=torch.float64) * 0.35 + 0.03
        b = torch.cat([xy, xy + wh], 1) * torch.tensor([w, h, w, h])
        out.append(b.to(torch.float64))
    return out


def _randomise(module, seed=0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.5)
    return module


CASES = [  # cs, ct, n, level sizes, batch input (H, W), temp, counts
    (4, 4, 2, [(8, 8), (4, 4)], (64, 64), 0.5, None),
    (3, 6, 3, [(6, 10), (3, 5)], (48, 80), 0.8, [2, 0, 4]),
    (5, 4, 1, [(7, 9)], (56, 72), 2.0, [5]),
]


# --------------------------------------------------------------- golden
@pytest.mark.parametrize('cs,ct,n,sizes,shape,temp,counts', CASES)
def test_fgd_matches_reference(cs, ct, n, sizes, shape, temp, counts):
    weights = (0.3, 0.7, 0.2, 0.05)
    loss = _randomise(FGDLoss(cs, ct, len(sizes), temp, *weights)).double()
    fss, fts = _feats(n, cs, sizes, 1), _feats(n, ct, sizes, 2)
    boxes = _boxes(n, shape, 3, counts)
    ref = ref_fgd(loss, fss, fts, [b.numpy() for b in boxes], [shape] * n,
                  temp, weights)
    got = loss(fss, fts, boxes, shape)
    assert got.item() == pytest.approx(ref, rel=1e-9)
    # official RetinaNet weights, default initialisation
    loss = FGDLoss(cs, ct, len(sizes)).double()
    ref = ref_fgd(loss, fss, fts, [b.numpy() for b in boxes], [shape] * n,
                  0.5, (0.001, 0.0005, 0.0005, 0.000005))
    assert loss(fss, fts, boxes, torch.tensor(shape)).item() == \
        pytest.approx(ref, rel=1e-9)


def test_fgd_per_image_shapes_reproduce_official_mapping():
    # official: boxes scaled by each image's unpadded img_shape
    sizes, pad = [(8, 12), (4, 6)], (64, 96)
    shapes = [(64, 80), (50, 96)]
    loss = _randomise(FGDLoss(4, 4, 2, 0.5, 1., 1., 1., 1.)).double()
    fss, fts = _feats(2, 4, sizes, 4), _feats(2, 4, sizes, 5)
    boxes = _boxes(2, (50, 80), 6)
    ref = ref_fgd(loss, fss, fts, [b.numpy() for b in boxes], shapes, 0.5,
                  (1., 1., 1., 1.))
    assert loss(fss, fts, boxes, shapes).item() == pytest.approx(ref,
                                                                 rel=1e-9)
    padded = loss(fss, fts, boxes, pad).item()
    assert padded != pytest.approx(ref, rel=1e-6)  # the mapping matters


def test_fgd_terms_and_masks_match_reference():
    fs, ft = _feats(3, 5, [(6, 7)], 7)[0], _feats(3, 5, [(6, 7)], 8)[0]
    boxes = _boxes(3, (48, 56), 9, [1, 3, 0])
    fg, bg = fgd_masks(boxes, [(48., 56.)] * 3, ft)
    rfg, rbg = ref_masks([b.numpy() for b in boxes], [(48, 56)] * 3, 6, 7)
    np.testing.assert_allclose(fg.numpy(), rfg, rtol=1e-12, atol=0)
    np.testing.assert_allclose(bg.numpy(), rbg, rtol=1e-12, atol=0)
    for t in (0.5, 1.0, 3.0):
        got = fgd_focal_terms(fs, ft, fg, bg, t)
        ref = ref_terms(fs.numpy(), ft.numpy(), rfg, rbg, t)
        for a, b in zip(got, ref):
            assert a.item() == pytest.approx(b, rel=1e-10)


def test_fgd_masks_hand_computed():
    # 64x64 input, 8x8 map (stride 8): box x 8..24 -> cols 1..3, y 8..40
    # -> rows 1..5, S = 1/15; a smaller box inside keeps its larger S
    like = torch.zeros(2, 1, 8, 8)
    boxes = [torch.tensor([[8., 8., 24., 40.], [9., 9., 15., 15.]]),
             torch.zeros(0, 4)]
    fg, bg = fgd_masks(boxes, [(64., 64.)] * 2, like)
    expect = torch.zeros(8, 8)
    expect[1:6, 1:4] = 1 / 15
    expect[1:3, 1:3] = 1 / 4  # floor(9/8)=1 .. ceil(15/8)=2
    torch.testing.assert_close(fg[0], expect)
    torch.testing.assert_close(bg[0], (expect == 0).float() / 49)
    assert fg[1].sum() == 0 and torch.allclose(bg[1], torch.full((8, 8),
                                                                 1 / 64))
    # a single box fully inside: its S sums to 1 over its cells
    fg, bg = fgd_masks([torch.tensor([[8., 8., 24., 40.]])], [(64, 64)],
                       like[:1])
    assert fg.sum().item() == pytest.approx(1.0)
    assert bg.sum().item() == pytest.approx(1.0)
    # every cell a box: no background left, bg all zero (official)
    fg, bg = fgd_masks([torch.tensor([[0., 0., 64., 64.]])], [(64, 64)],
                       like[:1])
    assert (fg > 0).all() and bg.sum() == 0


def test_fgd_attention_means_are_one():
    f = _feats(2, 6, [(5, 4)], 10)[0]
    s, c = fgd_attention(f, 0.5)
    torch.testing.assert_close(s.mean((1, 2)), torch.ones(2,
                                                          dtype=f.dtype))
    torch.testing.assert_close(c.mean(1), torch.ones(2, dtype=f.dtype))


# ----------------------------------------------------------- identities
def test_fgd_zero_when_student_equals_teacher_and_blocks_equal():
    loss = _randomise(FGDLoss(4, 4, 2, 0.5, 1., 1., 1., 1.)).double()
    loss.context_s.load_state_dict(loss.context_t.state_dict())
    f = _feats(2, 4, [(6, 6), (3, 3)], 11)
    assert loss(f, f, _boxes(2, (48, 48), 12), (48, 48)).item() == 0.0


def test_fgd_global_term_is_sum_squared_error_at_init():
    # the official init zeroes channel_add_conv's last conv: R(F) = F
    loss = FGDLoss(4, 4, 2, 0.5, 0., 0., 0., 1.).double()
    fss, fts = _feats(3, 4, [(5, 6), (2, 3)], 13), _feats(3, 4, [(5, 6),
                                                             (2, 3)], 14)
    expect = sum(((a - b) ** 2).sum() / 3 for a, b in zip(fss, fts))
    got = loss(fss, fts, _boxes(3, (40, 48), 15), (40, 48))
    assert got.item() == pytest.approx(expect.item(), rel=1e-12)


def test_fgd_accepts_box_structures():
    from mmdet.structures.bbox import HorizontalBoxes
    loss = _randomise(FGDLoss(4, 4, 1)).double()
    f, t = _feats(2, 4, [(6, 6)], 16), _feats(2, 4, [(6, 6)], 17)
    boxes = _boxes(2, (48, 48), 18)
    a = loss(f, t, [HorizontalBoxes(b) for b in boxes], (48, 48))
    assert a.item() == loss(f, t, boxes, (48, 48)).item()


# ------------------------------------------------------------ gradients
def test_fgd_gradients_reach_student_and_learned_parts_only():
    loss = _randomise(FGDLoss(3, 8, 2, 0.5, 1., 1., 1., 1.))
    fss = [f.requires_grad_() for f in _feats(2, 3, [(6, 6), (3, 3)], 19,
                                              torch.float32)]
    fts = [f.requires_grad_() for f in _feats(2, 8, [(6, 6), (3, 3)], 20,
                                              torch.float32)]
    loss(fss, fts, _boxes(2, (48, 48), 21), (48, 48)).backward()
    assert all(f.grad is not None and f.grad.abs().sum() > 0 for f in fss)
    assert all(f.grad is None for f in fts)
    for name, p in loss.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_fgd_official_init_trains_the_last_context_conv():
    loss = FGDLoss(4, 4, 1)
    fs = _feats(2, 4, [(6, 6)], 22, torch.float32)[0].requires_grad_()
    ft = _feats(2, 4, [(6, 6)], 23, torch.float32)[0]
    loss([fs], [ft], _boxes(2, (48, 48), 24), (48, 48)).backward()
    for ctx in (loss.context_s[0], loss.context_t[0]):
        assert ctx.channel_add_conv[-1].weight.grad.abs().sum() > 0
    assert fs.grad.abs().sum() > 0


# ------------------------------------------------------- AMP / extremes
def test_fgd_bf16_autocast_with_fp16_student():
    loss = _randomise(FGDLoss(3, 4, 2))
    fss = [f.half().requires_grad_() for f in _feats(
        2, 3, [(6, 6), (3, 3)], 25, torch.float32)]
    fts = _feats(2, 4, [(6, 6), (3, 3)], 26, torch.float32)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        out = loss(fss, fts, _boxes(2, (48, 48), 27), (48, 48))
    assert out.dtype == torch.float32 and torch.isfinite(out)
    out.backward()
    assert all(torch.isfinite(f.grad).all() and f.grad.abs().sum() > 0
               for f in fss)
    for name, p in loss.named_parameters():
        assert p.grad.dtype == torch.float32, name
        assert torch.isfinite(p.grad).all(), name


def test_fgd_finite_for_extreme_maps():
    loss = _randomise(FGDLoss(4, 4, 1))
    sign = torch.randint(0, 2, (2, 4, 6, 6), generator=torch.Generator()
                         .manual_seed(28)) * 2 - 1.
    fs = (sign * 1e4).requires_grad_()
    out = loss([fs], [-sign * 1e4], _boxes(2, (48, 48), 29), (48, 48))
    out.backward()
    assert torch.isfinite(out) and torch.isfinite(fs.grad).all()


# ------------------------------------------------------------ arguments
def test_fgd_registry_defaults():
    loss = _build(dict(type='FGDLoss'))
    assert loss.temp == 0.5 and loss.num_levels == 5 and loss.align is None
    assert loss.weights == (0.001, 0.0005, 0.0005, 0.000005)
    assert isinstance(loss.context_s[4], GlobalContext)
    assert _build(dict(type='FGDLoss', student_channels=128)).align \
        is not None


@pytest.mark.parametrize('kwargs', [
    dict(temp=0), dict(temp=-1), dict(alpha_fgd=-1e-3),
    dict(lambda_fgd=-1.), dict(teacher_channels=1), dict(num_levels=0),
    dict(student_channels=2.5), dict(student_channels=True)])
def test_fgd_bad_constructor_args(kwargs):
    with pytest.raises(ValueError, match='FGDLoss'):
        FGDLoss(**kwargs)


def test_fgd_bad_call_args():
    loss = FGDLoss(4, 4, 2)
    f, t = _feats(2, 4, [(6, 6), (3, 3)], 30), _feats(2, 4, [(6, 6), (3, 3)],
                                                      31)
    boxes = _boxes(2, (48, 48), 32)
    bad = [(f[:1], t, boxes, (48, 48)),  # level count
           (f, t, boxes[:1], (48, 48)),  # one box list per image
           (f, [t[0], t[0]], boxes, (48, 48)),  # spatial size
           (f, [x[:, :3] for x in t], boxes, (48, 48)),  # channels
           (f, [x[:1] for x in t], boxes, (48, 48)),  # batch size
           (f, t, boxes, (48, )), (f, t, boxes, (0, 48)),
           (f, t, boxes, [(48, 48)] * 3)]
    for args in bad:
        with pytest.raises(ValueError, match='FGDLoss'):
            loss.double()(*args)
