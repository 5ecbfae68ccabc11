"""The analysis figures: their numbers against direct formulas, and each
figure tool end to end on a tiny generated set (file written, pixel size)."""
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmpretrain.registry import MODELS

from mmrskd import analysis
from mmrskd.models.losses.isdm_terms import InstanceScaler
from mmrskd.testing import build_config_model

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def test_correlation_difference_against_numpy():
    g = torch.Generator().manual_seed(0)
    zt, zs = torch.randn(50, 4, generator=g), torch.randn(50, 4, generator=g)
    d = analysis.correlation_difference(zt, zs)
    ref = np.abs(np.corrcoef(zt.numpy().T) - np.corrcoef(zs.numpy().T))
    np.testing.assert_allclose(d.numpy(), ref, atol=1e-12)
    assert analysis.correlation_difference(zt, zt).abs().max() < 1e-12
    # invariant to a per-class affine change of the logits
    assert analysis.correlation_difference(zt, 3 * zt + 1).max() < 1e-6


def test_class_centre_similarity_and_confusion_by_hand():
    logits = torch.tensor([[2., 0.], [1., 0.], [0., 1.], [1., 1.]])
    labels = torch.tensor([0, 0, 1, 1])
    s = analysis.class_centre_similarity(logits, labels, 2)
    # centres (1.5, 0) and (0.5, 1)
    c1 = torch.tensor([0.5, 1.]) / 1.25 ** 0.5
    cos = lambda z, c: float(z @ c / z.norm())  # noqa: E731
    assert s[0, 0] == pytest.approx(1.0)
    assert s[0, 1] == pytest.approx(float(c1[0]))
    assert s[1, 0] == pytest.approx((0 + cos(logits[3], torch.tensor(
        [1., 0.]))) / 2)
    assert s[1, 1] == pytest.approx((cos(logits[2], c1) + cos(logits[3], c1))
                                    / 2)
    m = analysis.confusion_matrix(logits, labels, 2)
    # argmax of [1, 1] is 0 (first maximum)
    assert m.tolist() == [[2, 0], [1, 1]]


def test_isdm_soft_labels_identity_scaler_and_scaled_target():
    g = torch.Generator().manual_seed(1)
    z, y = torch.randn(6, 5, generator=g) * 3, torch.arange(6) % 5
    scaler = InstanceScaler()
    before, after, s = analysis.isdm_soft_labels(z, y, scaler, 4.0)
    assert torch.allclose(before, F.softmax(z / 4, 1))
    assert torch.allclose(after, before, atol=1e-6) and torch.all(s == 1)
    torch.nn.init.constant_(scaler.net[2].bias, 1.)  # s = 2 sigmoid(1)
    before, after, s = analysis.isdm_soft_labels(z, y, scaler, 4.0)
    p_t = before.gather(1, y[:, None]).squeeze(1)
    q_t = after.gather(1, y[:, None]).squeeze(1)
    assert torch.allclose(q_t, (s * p_t).clamp(max=1 - 1e-6))
    assert torch.allclose(after.sum(1), torch.ones(6))
    easy, hard = analysis.pick_easy_and_hard(z, y, k=1)
    p = F.softmax(z, 1).gather(1, y[:, None]).squeeze(1)
    assert int(easy) == int(p.argmax()) and int(hard) == int(p.argmin())


def test_tsne_keeps_separated_clusters_apart():
    g = torch.Generator().manual_seed(0)
    centres = torch.randn(3, 20, generator=g) * 10
    labels = torch.arange(90) % 3
    x = centres[labels] + torch.randn(90, 20, generator=g)
    y = analysis.tsne(x, perplexity=10, iters=400)
    assert y.shape == (90, 2) and torch.isfinite(y).all()
    d = torch.cdist(y, y).fill_diagonal_(float('inf'))
    # every point's nearest neighbour in the embedding is of its cluster
    assert torch.equal(labels[d.argmin(1)], labels)


# ------------------------------------------------ tools end to end
@pytest.fixture(scope='module')
def isdm_checkpoints(tmp_path_factory):
    """A random teacher, and an ISDM distiller checkpoint whose scaler is
    not the identity (so the soft-label figure shows a change)."""
    init_default_scope('mmpretrain')
    tmp = tmp_path_factory.mktemp('fig')
    torch.manual_seed(0)
    teacher = MODELS.build(Config.fromfile(
        osp.join(ROOT, 'configs/demo/resnet34_demo.py')).model)
    t_path = tmp / 'teacher.pth'
    torch.save({'state_dict': teacher.state_dict()}, t_path)
    cfg = Config.fromfile(osp.join(ROOT, 'configs/demo/isdm_r34_r18_demo.py'))
    cfg.model.teacher_ckpt = str(t_path)
    distiller = build_config_model(cfg)
    torch.nn.init.constant_(
        distiller.distill_losses.loss_isdm.scaler.net[2].bias, 0.5)
    d_path = tmp / 'isdm.pth'
    torch.save({'state_dict': distiller.state_dict()}, d_path)
    return str(t_path), str(d_path)


@pytest.mark.parametrize('figure,models', [
    ('soft-labels', 1), ('tsne', 2), ('correlation', 2), ('similarity', 1),
    ('confusion', 2)])
def test_figure_tool_writes_png(figure, models, demo_scenes, tmp_path,
                                isdm_checkpoints, capsys):
    from tools.analysis import distill_figures
    t_path, d_path = isdm_checkpoints
    out = tmp_path / f'{figure}.png'
    argv = [figure, '--out', str(out), '--teacher-ckpt', t_path,
            '--tsne-iters', '100', '--cfg-options',
            f'test_dataloader.dataset.data_root={demo_scenes}']
    for i in range(models):
        argv += ['--model', f'ISDM{i}', 'configs/demo/isdm_r34_r18_demo.py',
                 d_path]
    result = distill_figures.main(argv)
    img = cv2.imread(str(out))
    assert img.shape == (400, 400 * (2 * 2 if figure == 'soft-labels'
                                     else models), 3)
    printed = capsys.readouterr().out
    if figure == 'correlation':
        assert 'max' in printed and 'mean' in printed
        assert 0 < result['ISDM0']['mean'] <= result['ISDM0']['max'] <= 2
    if figure == 'soft-labels':
        s = result['scale']
        assert torch.allclose(s, torch.full_like(s, 2 * torch.sigmoid(
            torch.tensor(0.5)).item()))


def test_figure_tool_errors_name_the_model(demo_scenes, tmp_path,
                                           isdm_checkpoints):
    from tools.analysis import distill_figures
    t_path, d_path = isdm_checkpoints
    common = ['--out', str(tmp_path / 'x.png'), '--cfg-options',
              f'test_dataloader.dataset.data_root={demo_scenes}']
    with pytest.raises(FileNotFoundError, match='--model A: checkpoint'):
        distill_figures.main(['tsne', '--model', 'A', 'configs/demo/'
                              'resnet18_demo.py', 'missing.pth'] + common)
    with pytest.raises(ValueError, match='needs a distiller config'):
        distill_figures.main(['correlation', '--model', 'T',
                              'configs/demo/resnet34_demo.py', t_path]
                             + common)
