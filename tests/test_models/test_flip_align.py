import pytest
import torch
import torch.nn as nn

from mmrskd.models.losses import FlipAlignLoss
from mmrskd.models.losses.flip_align_loss import (TRANSFORMS,
                                                  normalize_per_sample)


def identity_loss(channels, **kwargs):
    """A loss whose connector is the identity (eval-mode BN with unit
    statistics), so the student map reaches the distance unchanged."""
    loss = FlipAlignLoss(channels, channels, **kwargs)
    with torch.no_grad():
        loss.connector[0].weight.copy_(torch.eye(channels)[..., None, None])
    loss.eval()
    return loss


@pytest.mark.parametrize('name', list(TRANSFORMS))
def test_picks_the_transform_that_was_applied(name):
    g = torch.Generator().manual_seed(0)
    teacher = torch.randn(4, 8, 6, 6, generator=g)
    inverse = {'rot90': 'rot270', 'rot270': 'rot90'}.get(name, name)
    student = TRANSFORMS[inverse](teacher) + 0.05 * torch.randn(
        4, 8, 6, 6, generator=g)
    loss = identity_loss(8)
    loss(student, teacher)
    assert loss.last_choice == [name] * 4


def test_non_square_maps_use_four_transforms():
    g = torch.Generator().manual_seed(1)
    teacher = torch.randn(3, 4, 5, 9, generator=g)
    loss = identity_loss(4)
    loss(teacher.flip(3), teacher)
    assert loss.last_choice == ['hflip'] * 3
    loss(teacher.flip(2, 3) + 0.01, teacher)
    assert loss.last_choice == ['rot180'] * 3


def test_equals_feature_mse_with_identity_only():
    g = torch.Generator().manual_seed(2)
    s = torch.randn(2, 8, 5, 5, generator=g)
    t = torch.randn(2, 8, 5, 5, generator=g)
    loss = identity_loss(8, transforms=('identity', ))
    ref = ((normalize_per_sample(s) - normalize_per_sample(t))**2).mean()
    assert loss(s, t).item() == pytest.approx(ref.item(), rel=1e-5)


def test_hard_is_min_and_soft_is_below_min():
    g = torch.Generator().manual_seed(3)
    s = torch.randn(2, 8, 5, 5, generator=g)
    t = torch.randn(2, 8, 5, 5, generator=g)
    hard = identity_loss(8)(s, t)
    manual = torch.stack([((normalize_per_sample(f(s)) -
                            normalize_per_sample(t))**2).flatten(1).mean(1)
                          for f in TRANSFORMS.values()], 1)
    assert hard.item() == pytest.approx(manual.min(1).values.mean().item(),
                                        rel=1e-5)
    soft = identity_loss(8, mode='soft', k=0.5)(s, t)
    ref = (-0.5 * torch.logsumexp(-manual / 0.5, 1)).mean()
    assert soft.item() == pytest.approx(ref.item(), rel=1e-5)
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
    loss(t.flip(3), t)
    assert hub.get_scalar('train/flip_align/hflip').current() == 1.0
    assert hub.get_scalar('train/flip_align/identity').current() == 0.0


def test_bad_arguments():
    with pytest.raises(ValueError, match="mode must be 'hard' or 'soft'"):
        FlipAlignLoss(4, 4, mode='x')
    with pytest.raises(ValueError, match='Unknown transform'):
        FlipAlignLoss(4, 4, transforms=('spin', ))
    assert isinstance(FlipAlignLoss(4, 8).connector[1], nn.BatchNorm2d)
