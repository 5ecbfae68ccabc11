"""FlipAlignLoss (DFT) against references written in this file: the eight
symmetries of the square as explicit index maps (loops over (i, j), not
torch's flip / rot90 / transpose), and the per-sample normalisation and
distances in float64 numpy."""
import numpy as np
import pytest
import torch
import torch.nn as nn

from mmrskd.models.losses import FlipAlignLoss
from mmrskd.models.losses.flip_align_loss import (RECT_TRANSFORMS,
                                                  TRANSFORMS,
                                                  candidate_names)

#: ``out[..., i, j] = x[..., a, b]`` with ``(a, b) = rule(i, j, h, w)`` for
#: an h x w map (rows i, columns j). The first four apply to any h x w;
#: rotations and the diagonal reflections need h == w. ``rot90`` is the
#: counter-clockwise quarter turn (the top-right corner goes to the
#: top-left), ``rot270`` the clockwise one.
SYMMETRIES = {
    'identity': lambda i, j, h, w: (i, j),
    'hflip': lambda i, j, h, w: (i, w - 1 - j),  # mirror left <-> right
    'vflip': lambda i, j, h, w: (h - 1 - i, j),  # mirror top <-> bottom
    'rot180': lambda i, j, h, w: (h - 1 - i, w - 1 - j),
    'rot90': lambda i, j, h, w: (j, w - 1 - i),
    'rot270': lambda i, j, h, w: (h - 1 - j, i),
    'transpose': lambda i, j, h, w: (j, i),  # main diagonal
    'antitranspose': lambda i, j, h, w: (h - 1 - j, w - 1 - i),
}
RECT = ('identity', 'hflip', 'vflip', 'rot180')


def apply_symmetry(name, x):
    """The reference transform of an (N, C, H, W) tensor, element by
    element."""
    h, w = x.shape[-2:]
    out = torch.empty_like(x)
    for i in range(h):
        for j in range(w):
            a, b = SYMMETRIES[name](i, j, h, w)
            out[..., i, j] = x[..., a, b]
    return out


def inverse_of(name):
    """The symmetry that undoes ``name``, found by trying all eight."""
    x = torch.arange(25.).view(1, 1, 5, 5)
    (inv, ) = [g for g in SYMMETRIES if torch.equal(
        apply_symmetry(g, apply_symmetry(name, x)), x)]
    return inv


def np_normalize(x):
    """Zero mean, unit (population) variance over (C, H, W) of each sample,
    eps 1e-5 added to the standard deviation (docs/methods.md)."""
    x = np.asarray(x, np.float64)
    flat = x.reshape(len(x), -1)
    mean = flat.mean(1, keepdims=True)
    std = np.sqrt(((flat - mean)**2).mean(1, keepdims=True))
    return ((flat - mean) / (std + 1e-5)).reshape(x.shape)


def np_distances(s, t, names):
    """``d_ig = mean_{c,h,w} (g(norm(s_i)) - norm(t_i))^2``, (N, G)."""
    s = np_normalize(s)
    t = np_normalize(t)
    cols = [((apply_symmetry(g, torch.from_numpy(s)).numpy() - t)**2)
            .reshape(len(s), -1).mean(1) for g in names]
    return np.stack(cols, 1)


def test_reference_is_the_dihedral_group_of_the_square():
    """The reference itself: eight different maps, closed under
    composition as the symmetries of the square are."""
    x = torch.arange(2 * 3 * 5 * 5.).view(2, 3, 5, 5)
    images = {g: apply_symmetry(g, x) for g in SYMMETRIES}
    assert len({tuple(v.flatten().tolist()) for v in images.values()}) == 8

    def compose(*names):
        y = x
        for g in names:
            y = apply_symmetry(g, y)
        return y

    assert torch.equal(compose('rot90', 'rot90'), images['rot180'])
    assert torch.equal(compose('rot90', 'rot270'), x)
    assert torch.equal(compose('hflip', 'vflip'), images['rot180'])
    assert torch.equal(compose('transpose', 'antitranspose'),
                       images['rot180'])
    assert torch.equal(compose('rot90', 'rot90', 'rot90', 'rot90'), x)
    # corner 0 is top-left, 4 top-right: a counter-clockwise turn moves
    # the top-right corner to the top-left
    assert images['rot90'][0, 0, 0, 0] == x[0, 0, 0, 4]
    assert images['rot270'][0, 0, 0, 0] == x[0, 0, 4, 0]
    assert {g: inverse_of(g) for g in ('rot90', 'rot270', 'hflip')} == {
        'rot90': 'rot270', 'rot270': 'rot90', 'hflip': 'hflip'}


@pytest.mark.parametrize('name', list(SYMMETRIES))
def test_transforms_are_the_eight_symmetries(name):
    assert set(TRANSFORMS) == set(SYMMETRIES)
    x = torch.randn(2, 3, 5, 5, generator=torch.Generator().manual_seed(0))
    assert torch.equal(TRANSFORMS[name](x), apply_symmetry(name, x))


@pytest.mark.parametrize('name', RECT)
def test_rectangular_maps_keep_their_four_symmetries(name):
    assert set(RECT_TRANSFORMS) == set(RECT)
    assert set(candidate_names(4, 6)) == set(RECT)
    assert set(candidate_names(6, 6)) == set(SYMMETRIES)
    x = torch.randn(2, 3, 4, 6, generator=torch.Generator().manual_seed(1))
    assert torch.equal(TRANSFORMS[name](x), apply_symmetry(name, x))


def identity_loss(channels, **kwargs):
    """A loss whose connector is the identity (eval-mode BN with unit
    statistics), so the student map reaches the distance unchanged."""
    loss = FlipAlignLoss(channels, channels, **kwargs)
    with torch.no_grad():
        loss.connector[0].weight.copy_(torch.eye(channels)[..., None, None])
    loss.eval()
    return loss


@pytest.mark.parametrize('name', list(SYMMETRIES))
def test_picks_the_transform_that_was_applied(name):
    """A student that is the teacher under the inverse of ``name`` is
    aligned by ``name``."""
    g = torch.Generator().manual_seed(0)
    teacher = torch.randn(4, 8, 6, 6, generator=g)
    student = apply_symmetry(inverse_of(name), teacher) + 0.05 * torch.randn(
        4, 8, 6, 6, generator=g)
    loss = identity_loss(8)
    loss(student, teacher)
    assert loss.last_choice == [name] * 4


def test_non_square_maps_use_four_transforms():
    g = torch.Generator().manual_seed(1)
    teacher = torch.randn(3, 4, 5, 9, generator=g)
    loss = identity_loss(4)
    loss(apply_symmetry('hflip', teacher), teacher)
    assert loss.last_choice == ['hflip'] * 3
    loss(apply_symmetry('rot180', teacher) + 0.01, teacher)
    assert loss.last_choice == ['rot180'] * 3


def test_equals_feature_mse_with_identity_only():
    g = torch.Generator().manual_seed(2)
    s = torch.randn(2, 8, 5, 5, generator=g)
    t = torch.randn(2, 8, 5, 5, generator=g)
    loss = identity_loss(8, transforms=('identity', ))
    ref = ((np_normalize(s) - np_normalize(t))**2).mean()
    assert loss(s, t).item() == pytest.approx(ref, rel=1e-5)


def test_hard_is_min_and_soft_is_below_min():
    g = torch.Generator().manual_seed(3)
    s = torch.randn(2, 8, 5, 5, generator=g)
    t = torch.randn(2, 8, 5, 5, generator=g)
    hard = identity_loss(8)(s, t)
    d = np_distances(s, t, SYMMETRIES)  # the 8 candidates of a square map
    assert hard.item() == pytest.approx(d.min(1).mean(), rel=1e-5)
    soft = identity_loss(8, mode='soft', k=0.5)(s, t)
    ref = (-0.5 * np.log(np.exp(-d / 0.5).sum(1))).mean()
    assert soft.item() == pytest.approx(ref, rel=1e-5)
    assert soft.item() < hard.item()


def test_channel_and_spatial_mismatch_and_gradients():
    g = torch.Generator().manual_seed(4)
    s = torch.randn(2, 16, 8, 8, generator=g, requires_grad=True)
    t = torch.randn(2, 64, 4, 4, generator=g, requires_grad=True)
    loss = FlipAlignLoss(16, 64)
    out = loss(s, t)
    out.backward()
    assert torch.isfinite(out)
    assert s.grad is not None and s.grad.abs().sum() > 0
    assert t.grad is None
    assert loss.connector[0].weight.grad.abs().sum() > 0
    with pytest.raises(ValueError, match='student map has 8 channels'):
        loss(torch.randn(2, 8, 8, 8), t)
    with pytest.raises(ValueError, match='teacher map has 32 channels'):
        loss(s, torch.randn(2, 32, 4, 4))


def test_histogram_logged_to_message_hub():
    from mmengine.logging import MessageHub
    hub = MessageHub.get_instance('flip_hist')
    g = torch.Generator().manual_seed(5)
    t = torch.randn(4, 4, 6, 6, generator=g)
    loss = identity_loss(4)
    loss.train()  # the histogram is logged in training mode
    loss.connector[1].eval()  # keep the identity connector
    loss(apply_symmetry('hflip', t), t)
    assert hub.get_scalar('train/flip_align/hflip').current() == 1.0
    assert hub.get_scalar('train/flip_align/identity').current() == 0.0


def test_bad_arguments():
    with pytest.raises(ValueError, match="mode must be 'hard' or 'soft'"):
        FlipAlignLoss(4, 4, mode='x')
    with pytest.raises(ValueError, match='Unknown transform'):
        FlipAlignLoss(4, 4, transforms=('spin', ))
    assert isinstance(FlipAlignLoss(4, 8).connector[1], nn.BatchNorm2d)
