"""ReviewKD (Chen et al., CVPR 2021): HCL against a float64 numpy reference,
ABF / the review chain against a hand-written torch reference built from the
same weights, gradients, call styles, AMP and the warm-up."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.logging import MessageHub
from mmpretrain.registry import MODELS

from mmrskd.models.losses.reviewkd_fusion import ABF, split_feats
from mmrskd.models.losses.reviewkd_loss import ReviewKDLoss, hcl_loss

# three levels whose student and teacher sizes differ at levels 1 and 2
S_CH, T_CH, MID = (3, 4, 5), (2, 3, 6), 4
S_HW, T_HW = ((6, 6), (3, 3), (1, 1)), ((6, 6), (6, 6), (2, 2))


# ------------------------------------------------------ numpy reference
def np_pool(x, k):
    """Adaptive average pooling to k x k: bin i spans
    [floor(i H / k), ceil((i + 1) H / k))."""
    n, c, h, w = x.shape
    out = np.zeros((n, c, k, k))
    for i in range(k):
        for j in range(k):
            rows = slice(i * h // k, -(-(i + 1) * h // k))
            cols = slice(j * w // k, -(-(j + 1) * w // k))
            out[:, :, i, j] = x[:, :, rows, cols].mean(axis=(2, 3))
    return out


def np_hcl(fss, fts, sizes=(4, 2, 1)):
    total = 0.0
    for fs, ft in zip(fss, fts):
        fs, ft = np.asarray(fs, np.float64), np.asarray(ft, np.float64)
        weights, dists = [1.0], [np.mean((fs - ft) ** 2)]
        for k in sizes:
            if k < fs.shape[2]:
                weights.append(weights[-1] / 2)
                dists.append(np.mean((np_pool(fs, k) - np_pool(ft, k)) ** 2))
        total += np.dot(weights, dists) / np.sum(weights)
    return total


def _maps(channels, sizes, n=4, seed=0, dtype=torch.float64):
    # n > 2: a training-mode BN over two 1 x 1 maps outputs +-1 whatever its
    # input, and passes (almost) no gradient to the deepest student map
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(n, c, *hw, generator=g, dtype=dtype)
            for c, hw in zip(channels, sizes)]


# ------------------------------------------------- torch hand reference
def ref_bn(x, bn, training):
    if training:
        mean = x.mean((0, 2, 3), keepdim=True)
        var = x.var((0, 2, 3), unbiased=False, keepdim=True)
    else:
        mean = bn.running_mean.view(1, -1, 1, 1)
        var = bn.running_var.view(1, -1, 1, 1)
    return ((x - mean) / torch.sqrt(var + bn.eps) * bn.weight.view(1, -1, 1, 1)
            + bn.bias.view(1, -1, 1, 1))


def ref_nearest(x, size):
    rows = torch.arange(size[0]) * x.shape[2] // size[0]
    cols = torch.arange(size[1]) * x.shape[3] // size[1]
    return x[:, :, rows][:, :, :, cols]


def ref_conv3x3(x, w):
    h, wd = x.shape[-2:]
    xp = F.pad(x, (1, 1, 1, 1))
    return sum(torch.einsum('nchw,oc->nohw', xp[:, :, i:i + h, j:j + wd],
                            w[:, :, i, j]) for i in range(3) for j in range(3))


def ref_abf(abf, x, residual, out_size, training=True):
    y = torch.einsum('nchw,oc->nohw', x, abf.conv1[0].weight[:, :, 0, 0])
    y = ref_bn(y, abf.conv1[1], training)
    if residual is not None:
        r = ref_nearest(residual, y.shape[-2:])
        conv = abf.att_conv[0]
        z = torch.einsum('nchw,oc->nohw', torch.cat([y, r], 1),
                         conv.weight[:, :, 0, 0]) + conv.bias.view(1, 2, 1, 1)
        a = 1 / (1 + torch.exp(-z))
        y = y * a[:, 0:1] + r * a[:, 1:2]
    if tuple(y.shape[-2:]) != tuple(out_size):
        y = ref_nearest(y, out_size)
    out = ref_bn(ref_conv3x3(y, abf.conv2[0].weight), abf.conv2[1], training)
    return out, y


def _randomise(module, seed=1):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.copy_(torch.rand(m.weight.shape, generator=g) + 0.5)
                m.bias.copy_(torch.randn(m.bias.shape, generator=g))
                m.running_mean.copy_(torch.randn(m.num_features, generator=g))
                m.running_var.copy_(torch.rand(m.num_features, generator=g)
                                    + 0.5)
            elif isinstance(m, torch.nn.Conv2d) and m.bias is not None:
                m.bias.copy_(torch.randn(m.bias.shape, generator=g))
    return module


def _loss(**kwargs):
    return _randomise(ReviewKDLoss(S_CH, T_CH, MID, **kwargs)).double()


# --------------------------------------------------------------- HCL
@pytest.mark.parametrize('hw,sizes', [((7, 7), (4, 2, 1)), ((4, 4), (4, 2, 1)),
                                      ((1, 1), (4, 2, 1)), ((5, 8), (4, 2, 1)),
                                      ((6, 6), (3, 5)), ((2, 3), (1, ))])
def test_hcl_matches_numpy(hw, sizes):
    fs, ft = _maps((3, 3), (hw, hw), seed=2)
    fs2, ft2 = _maps((2, 2), ((3, 3), (3, 3)), seed=3)
    got = hcl_loss([fs, fs2], [ft, ft2], sizes)
    ref = np_hcl([fs.numpy(), fs2.numpy()], [ft.numpy(), ft2.numpy()], sizes)
    assert got.item() == pytest.approx(ref, rel=1e-10)


def test_hcl_hand_computed_weights():
    # 2 x 2, d = [[2, 0], [0, 0]]: MSE 1, pooled 1 x 1 (weight 1/2): 0.25
    d = torch.tensor([[[[2., 0.], [0., 0.]]]], dtype=torch.float64)
    assert hcl_loss([d], [torch.zeros_like(d)]).item() == pytest.approx(
        (1 + 0.5 * 0.25) / 1.5)
    # 8 x 8 checkerboard: every pooled difference vanishes; weights
    # 1, .5, .25, .125 -> 1 / 1.875
    board = (torch.arange(8)[:, None] + torch.arange(8)) % 2 * 2.0 - 1
    board = board.double().expand(2, 3, 8, 8)
    assert hcl_loss([board], [torch.zeros_like(board)]).item() == \
        pytest.approx(1 / 1.875)


def test_hcl_identities():
    fs = _maps((3, 4), ((7, 7), (2, 5)), seed=4)
    assert hcl_loss(fs, fs).item() == 0.0
    # a constant offset c costs c^2 at every pyramid level of every map
    shifted = [f + 1.5 for f in fs]
    assert hcl_loss(shifted, fs).item() == pytest.approx(2 * 2.25)


def test_hcl_teacher_detached_and_bad_shapes():
    fs, ft = _maps((3, 3), ((4, 4), (4, 4)), seed=5)
    fs.requires_grad_(), ft.requires_grad_()
    hcl_loss([fs], [ft]).backward()
    assert fs.grad.abs().sum() > 0 and ft.grad is None
    with pytest.raises(ValueError, match='hcl_loss: student map'):
        hcl_loss([fs], [ft[:, :2]])
    with pytest.raises(ValueError, match='hcl_loss: needs as many'):
        hcl_loss([fs, fs], [ft])


# --------------------------------------------------------- ABF / chain
@pytest.mark.parametrize('training', [True, False])
@pytest.mark.parametrize('fuse,in_hw,res_hw,out_hw', [
    (False, (3, 3), None, (3, 3)), (False, (1, 1), None, (2, 2)),
    (True, (4, 6), (2, 3), (4, 6)), (True, (3, 3), (2, 2), (6, 6))])
def test_abf_matches_hand_reference(training, fuse, in_hw, res_hw, out_hw):
    abf = _randomise(ABF(3, 4, 5, fuse), seed=6).double().train(training)
    x = _maps((3, ), (in_hw, ), n=3, seed=7)[0]
    res = _maps((4, ), (res_hw, ), n=3, seed=8)[0] if fuse else None
    out, fused = abf(x, res, out_hw)
    ref_out, ref_fused = ref_abf(abf, x, res, out_hw, training)
    assert out.shape == (3, 5, *out_hw)
    assert torch.allclose(out, ref_out, rtol=1e-10, atol=1e-12)
    assert torch.allclose(fused, ref_fused, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize('training', [True, False])
def test_review_chain_and_loss_match_references(training):
    loss = _loss(loss_weight=1.7).train(training)
    s, t = _maps(S_CH, S_HW, seed=9), _maps(T_CH, T_HW, seed=10)
    abfs, outs, res = loss.fusion.abfs, [None] * 3, None
    assert abfs[2].att_conv is None and abfs[0].att_conv is not None
    for i in (2, 1, 0):  # deep to shallow
        outs[i], res = ref_abf(abfs[i], s[i], res, T_HW[i], training)
    for got, ref, t_i in zip(loss.fusion(s, T_HW), outs, t):
        assert got.shape == t_i.shape
        assert torch.allclose(got, ref, rtol=1e-10, atol=1e-12)
    ref = 1.7 * np_hcl([o.detach().numpy() for o in outs],
                       [x.numpy() for x in t])
    assert loss(s, t).item() == pytest.approx(ref, rel=1e-10)


def test_gradients_reach_student_and_fusion_never_teacher():
    loss = ReviewKDLoss(S_CH, T_CH, MID)
    s = [x.float().requires_grad_() for x in _maps(S_CH, S_HW, seed=11)]
    t = [x.float().requires_grad_() for x in _maps(T_CH, T_HW, seed=12)]
    loss(*s, *t).backward()
    assert all(x.grad is not None and x.grad.abs().sum() > 0 for x in s)
    assert all(x.grad is None for x in t)
    for name, p in loss.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


# ------------------------------------------------------ call styles
def test_call_styles_agree():
    loss = _loss().eval()
    s, t = _maps(S_CH, S_HW, seed=13), _maps(T_CH, T_HW, seed=14)
    ref = loss(s, t)
    assert torch.equal(loss(*s, *t), ref)
    assert torch.equal(loss(tuple(s), tuple(t)), ref)
    # a pooled (N, C) vector, alone or in a 1-tuple (a neck), is (N, C, 1, 1)
    s[2], t[2] = s[2][:, :, 0, 0], (t[2].mean((2, 3)), )
    pooled = loss(*s, *t)
    t[2] = t[2][0][:, :, None, None]
    assert torch.equal(pooled, loss(s, t))
    # two tensors are one level (flat call), two sequences are L levels
    student, teacher = split_feats((s[2], (t[2][:, :, 0, 0], )))
    assert [x.shape for x in student + teacher] == [(4, 5, 1, 1),
                                                    (4, 6, 1, 1)]
    student, teacher = split_feats((s, t))
    assert len(student) == len(teacher) == 3


@pytest.mark.parametrize('args,match', [
    (lambda s, t: (s, t[:2]), 'got 3 student and 2 teacher'),
    (lambda s, t: (*s, *t, t[0]), 'or 2L maps, got 7'),
    (lambda s, t: (s[:2], t[:2]), 'expected 3 student'),
    (lambda s, t: (s, [t[0], t[1], t[1]]), 'teacher map 2 has 3 channels'),
    (lambda s, t: ([s[1], s[1], s[2]], t), 'student map 0 has 4 channels'),
    (lambda s, t: (s, [t[0][0], t[1], t[2]]), r'\(N, C, H, W\) or'),
    (lambda s, t: (s, [(t[0], t[0]), t[1], t[2]]), 'hold one tensor')])
def test_bad_inputs_raise(args, match):
    s, t = _maps(S_CH, S_HW, seed=15), _maps(T_CH, T_HW, seed=16)
    with pytest.raises(ValueError, match=match):
        _loss()(*args(s, t))


# ------------------------------------------------------ defaults / config
def test_registry_defaults_resnet18_from_resnet34():
    from mmengine.registry import init_default_scope
    init_default_scope('mmpretrain')  # whatever an earlier test left
    loss = MODELS.build(dict(type='ReviewKDLoss'))
    assert loss.fusion.abfs[0].conv1[0].out_channels == 512  # official mid
    assert [a.conv2[0].out_channels for a in loss.fusion.abfs] == [
        64, 128, 256, 512]
    assert loss.loss_weight == 1.0 and loss.warmup_factor(epoch=0) == 1.0
    sizes = ((8, 8), (4, 4), (2, 2), (1, 1))
    s = _maps((64, 128, 256, 512), sizes, dtype=torch.float32)
    t = _maps((64, 128, 256, 512), sizes, seed=1, dtype=torch.float32)
    assert torch.isfinite(loss(*s, *t))
    assert ReviewKDLoss((16, 32, 64, 64), (32, 64, 128, 128)).fusion.abfs[
        0].conv1[0].out_channels == 64


@pytest.mark.parametrize('kwargs,match', [
    (dict(student_channels=(3, 4)), 'equally long'),
    (dict(student_channels=()), 'equally long'),
    (dict(teacher_channels=(2, 0, 6)), 'positive ints'),
    (dict(mid_channels=0), 'mid_channels must be an int >= 1'),
    (dict(warmup_epochs=2.5), 'warmup_epochs must be an int >= 0'),
    (dict(warmup_iters=-1), 'warmup_iters must be an int >= 0'),
    (dict(pool_sizes=(4, 0)), 'pool_sizes must be positive')])
def test_bad_arguments_raise(kwargs, match):
    args = dict(student_channels=S_CH, teacher_channels=T_CH)
    args.update(kwargs)
    with pytest.raises(ValueError, match='ReviewKDLoss: .*' + match):
        ReviewKDLoss(**args)


# ----------------------------------------------------------------- AMP
def _amp_check(loss, s, t):
    out = loss(s, t)
    out.backward()
    assert out.dtype == torch.float32 and torch.isfinite(out)
    assert all(torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
               for x in s)
    assert all(torch.isfinite(p.grad).all() for p in loss.parameters())


@pytest.mark.parametrize('scale', [1.0, 1e4])
def test_bf16_autocast_finite(scale):
    loss = ReviewKDLoss(S_CH, T_CH, MID)
    s = [(x * scale).bfloat16().requires_grad_()
         for x in _maps(S_CH, S_HW, seed=17)]
    t = [x.float() for x in _maps(T_CH, T_HW, seed=18)]
    with torch.autocast('cpu', dtype=torch.bfloat16):
        _amp_check(loss, s, t)


@pytest.mark.parametrize('scale', [1.0, 1e4])
def test_fp16_student_into_fp32_fusion_finite(scale):
    loss = ReviewKDLoss(S_CH, T_CH, MID)
    s = [(x * scale).half().requires_grad_()
         for x in _maps(S_CH, S_HW, seed=19)]
    t = [x.float() * scale for x in _maps(T_CH, T_HW, seed=20)]
    _amp_check(loss, s, t)
    assert all(p.dtype == torch.float32 for p in loss.parameters())


# -------------------------------------------------------------- warm-up
def test_warmup_epochs_from_message_hub():
    loss = _loss(warmup_epochs=20).eval()
    s, t = _maps(S_CH, S_HW, seed=21), _maps(T_CH, T_HW, seed=22)
    hub = MessageHub.get_instance('test_reviewkd_warmup')
    hub.update_info('epoch', 40)
    full = loss(s, t).item()
    assert full > 0
    for epoch, factor in ((0, 1 / 20), (9, 0.5), (19, 1.0)):
        hub.update_info('epoch', epoch)
        assert loss(s, t).item() == pytest.approx(factor * full, rel=1e-12)
    assert loss.warmup_factor(epoch=4) == pytest.approx(0.25)


def test_warmup_iters_replace_epochs():
    loss = ReviewKDLoss(S_CH, T_CH, MID, warmup_epochs=20, warmup_iters=10)
    assert loss.warmup_factor(iteration=4) == pytest.approx(0.5)
    assert loss.warmup_factor(iteration=50) == 1.0
    hub = MessageHub.get_instance('test_reviewkd_warmup_iters')
    hub.update_info('epoch', 0)
    hub.update_info('iter', 1)
    assert loss.warmup_factor() == pytest.approx(0.2)
    assert ReviewKDLoss(S_CH, T_CH, warmup_iters=0).warmup_factor(
        iteration=0) == 1.0
