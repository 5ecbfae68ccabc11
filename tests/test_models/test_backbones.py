import pytest
import torch
from mmengine.registry import init_default_scope
from mmpretrain.registry import MODELS

import mmrskd  # noqa: F401


def _params(m):
    return sum(p.numel() for p in m.parameters())


@pytest.mark.parametrize('depth,millions', [(20, 0.27), (56, 0.85),
                                            (110, 1.73)])
def test_resnet_cifar_depths_match_he_et_al(depth, millions):
    init_default_scope('mmpretrain')
    # He et al. 2016, Table 6 (CIFAR-10, 10-way fc included): 0.27 M,
    # 0.85 M, 1.7 M.
    model = MODELS.build(dict(
        type='ImageClassifier',
        backbone=dict(type='ResNetCIFAR', depth=depth),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='LinearClsHead', num_classes=10, in_channels=64)))
    assert _params(model) / 1e6 == pytest.approx(millions, rel=0.03)
    backbone = model.backbone
    assert len(backbone.layers[0]) == (depth - 2) // 6
    out = backbone(torch.zeros(2, 3, 64, 64))
    assert out[-1].shape == (2, 64, 16, 16)


def test_resnet_cifar_bad_depth():
    from mmrskd.models import ResNetCIFAR
    with pytest.raises(ValueError, match='6n \\+ 2'):
        ResNetCIFAR(depth=51)
    outs = ResNetCIFAR(depth=20, out_indices=(0, 1, 2))(
        torch.zeros(1, 3, 32, 32))
    assert [o.shape[1:] for o in outs] == [(16, 32, 32), (32, 16, 16),
                                           (64, 8, 8)]


@pytest.mark.parametrize('arch,millions', [
    ('regnetx_032', 10.51), ('regnetx_040', 15.73), ('regnetx_064', 17.99),
    ('regnetx_080', 24.59), ('regnetx_160', 32.38)])
def test_g_ghost_regnet_params_match_official(arch, millions):
    # Official counts (IJCV 2022 release) with a 1000-class head.
    init_default_scope('mmpretrain')
    width = {'regnetx_032': 1008, 'regnetx_040': 1360, 'regnetx_064': 1624,
             'regnetx_080': 1920, 'regnetx_160': 2048}[arch]
    model = MODELS.build(dict(
        type='ImageClassifier',
        backbone=dict(type='GGhostRegNet', arch=arch),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='LinearClsHead', num_classes=1000, in_channels=width)))
    assert _params(model) / 1e6 == pytest.approx(millions, rel=0.01)


def test_g_ghost_stage_shapes_and_gradients():
    from mmrskd.models import GGhostRegNet
    net = GGhostRegNet('regnetx_032', out_indices=(0, 1, 2, 3))
    outs = net(torch.randn(2, 3, 64, 64))
    assert [tuple(o.shape[1:]) for o in outs] == [
        (96, 16, 16), (192, 8, 8), (432, 4, 4), (1008, 2, 2)]
    outs[-1].mean().backward()
    stage = net.stages[2]
    assert stage.raw + stage.cheap[0].in_channels == 432
    assert stage.mix[1].weight.grad.abs().sum() > 0
    with pytest.raises(KeyError, match='unknown arch'):
        GGhostRegNet('regnetx_999')
