"""Gradient share per loss term: the norms against hand-computed gradients,
the scaling of a term's weight, and the tool end to end."""
import json
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmpretrain.registry import MODELS

from mmrskd.analysis.loss_balance import gradient_norms, term_value
from mmrskd.testing import build_config_model

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def test_gradient_norms_by_hand():
    w = torch.nn.Parameter(torch.tensor([1.0, -2.0, 0.5]))
    v = torch.nn.Parameter(torch.tensor([3.0]))
    x = torch.tensor([3.0, 4.0, 12.0])
    losses = {
        'loss': (w * x).sum(),                  # d/dw = x, |x| = 13
        'loss_kd': [(w ** 2).sum(), w.sum()],   # a per-level list: 2w + 1
        'loss_free': torch.tensor(2.0),         # does not reach the params
        'accuracy': (w * 100).sum(),            # not a loss: ignored
    }
    out = gradient_norms(losses, [w, v])
    assert set(out) == {'loss', 'loss_kd', 'loss_free', 'total'}
    assert out['loss']['grad_norm'] == pytest.approx(13.0)
    assert out['loss']['loss'] == pytest.approx(3 - 8 + 6)
    g_kd = 2 * w.detach() + 1
    assert out['loss_kd']['grad_norm'] == pytest.approx(float(g_kd.norm()))
    assert out['loss_free']['grad_norm'] == 0
    assert out['total']['grad_norm'] == pytest.approx(
        float((x + g_kd).norm()))
    assert term_value([torch.ones(2), torch.full((3,), 2.)]) == 3
    with pytest.raises(ValueError, match='No loss terms'):
        gradient_norms({'accuracy': w.sum()}, [w])


@pytest.fixture(scope='module')
def teacher_ckpt(tmp_path_factory):
    init_default_scope('mmpretrain')
    torch.manual_seed(0)
    teacher = MODELS.build(Config.fromfile(
        osp.join(ROOT, 'configs/demo/resnet34_demo.py')).model)
    path = tmp_path_factory.mktemp('lb') / 'teacher.pth'
    torch.save({'state_dict': teacher.state_dict()}, path)
    return str(path)


def _run(tmp_path, demo_scenes, teacher_ckpt, ckpt, *options):
    from tools.analysis import loss_balance as tool
    out = tmp_path / 'lb.json'
    tool.main(['configs/demo/kd_r34_r18_demo.py', ckpt, '--teacher-ckpt',
               teacher_ckpt, '--batches', '2', '--json', str(out),
               '--cfg-options',
               f'train_dataloader.dataset.data_root={demo_scenes}',
               *options])
    return json.loads(out.read_text())['terms']


def test_tool_weight_scales_only_its_term(demo_scenes, teacher_ckpt,
                                          tmp_path, capsys):
    cfg = Config.fromfile(osp.join(ROOT, 'configs/demo/kd_r34_r18_demo.py'))
    cfg.model.teacher_ckpt = teacher_ckpt
    init_default_scope('mmpretrain')
    torch.manual_seed(1)
    distiller = build_config_model(cfg)
    ckpt = tmp_path / 'kd.pth'
    torch.save({'state_dict': distiller.state_dict()}, ckpt)
    before = {k: v.clone() for k, v in distiller.state_dict().items()}

    base = _run(tmp_path, demo_scenes, teacher_ckpt, str(ckpt))
    printed = capsys.readouterr().out
    assert '| loss_kd |' in printed and '/ loss_cls' in printed
    assert base['loss_cls']['grad_norm'] > 0 and base['loss_kd']['grad_norm'] > 0
    # total = loss_cls + loss_kd: its gradient norm obeys the triangle
    # inequality (per batch, hence for the means over the batches)
    lo = abs(base['loss_cls']['grad_norm'] - base['loss_kd']['grad_norm'])
    hi = base['loss_cls']['grad_norm'] + base['loss_kd']['grad_norm']
    assert lo * (1 - 1e-6) <= base['total']['grad_norm'] <= hi * (1 + 1e-6)
    # same batches (fixed seed, augmentation included): a 3x weight gives
    # exactly 3x the KD gradient and leaves the cross-entropy untouched
    tripled = _run(tmp_path, demo_scenes, teacher_ckpt, str(ckpt),
                   'model.distill_losses.loss_kd.loss_weight=3.0')
    assert tripled['loss_cls']['grad_norm'] == pytest.approx(
        base['loss_cls']['grad_norm'], rel=1e-5)
    assert tripled['loss_kd']['grad_norm'] == pytest.approx(
        3 * base['loss_kd']['grad_norm'], rel=1e-5)
    assert tripled['loss_kd']['loss'] == pytest.approx(
        3 * base['loss_kd']['loss'], rel=1e-5)
    # ... so the KD term's share of the cross-entropy's gradient triples
    assert tripled['loss_kd']['ratio'] == pytest.approx(
        3 * base['loss_kd']['ratio'], rel=1e-5)
    # nothing changes in the model: no update, BN statistics restored
    from mmengine.runner import Runner
    from mmrskd.analysis import loss_balance
    cfg.train_dataloader.dataset.data_root = demo_scenes
    cfg.train_dataloader.num_workers = 0
    cfg.train_dataloader.persistent_workers = False
    distiller.eval()
    loader = Runner.build_dataloader(cfg.train_dataloader)
    loss_balance(distiller, [next(iter(loader))])
    after = distiller.state_dict()
    assert any('running_mean' in k for k in after)
    assert all(torch.equal(after[k], before[k]) for k in before)
    assert not distiller.training


def test_tool_ratio_column_by_hand(demo_scenes, tmp_path, capsys,
                                   monkeypatch):
    """The ratio column is each term's gradient norm over the reference
    term's: fixed norms 4, 3, 0 and 5 through the tool's table and JSON
    (the model and the gradients replaced, the batches the tool's own)."""
    from tools.analysis import loss_balance as tool
    norms = {'loss': 4.0, 'loss_kd': 3.0, 'loss_free': 0.0, 'total': 5.0}
    seen = []

    def fake_balance(model, batches):
        assert model == 'model'
        seen.extend(batches)
        return {k: dict(loss=0.5, grad_norm=v) for k, v in norms.items()}

    monkeypatch.setattr(tool, 'load_model', lambda *args: 'model')
    monkeypatch.setattr(tool, 'loss_balance', fake_balance)
    ckpt = tmp_path / 'unused.pth'
    ckpt.write_bytes(b'')
    out = tmp_path / 'lb.json'

    def ratios(*reference):
        tool.main(['configs/demo/kd_r34_r18_demo.py', str(ckpt), '--batches',
                   '2', '--json', str(out), *reference, '--cfg-options',
                   f'train_dataloader.dataset.data_root={demo_scenes}'])
        terms = json.loads(out.read_text())['terms']
        return {k: v['ratio'] for k, v in terms.items()}

    assert ratios() == {'loss': 1.0, 'loss_kd': 0.75, 'loss_free': 0.0,
                        'total': 1.25}
    assert len(seen) == 2  # --batches 2 of the training loader
    assert '| loss_kd | 0.5000 | 3.0000 | 0.75 |' in capsys.readouterr().out
    got = ratios('--reference', 'loss_kd')
    assert got == pytest.approx({'loss': 4 / 3, 'loss_kd': 1.0,
                                 'loss_free': 0.0, 'total': 5 / 3})
    # a reference without gradient: no ratio (nan), not a division error
    got = ratios('--reference', 'loss_free')
    assert all(v != v for v in got.values()), got


def test_tool_errors(demo_scenes, teacher_ckpt, tmp_path):
    from tools.analysis import loss_balance as tool
    with pytest.raises(FileNotFoundError, match='missing.pth'):
        tool.main(['configs/demo/kd_r34_r18_demo.py', 'missing.pth'])
    cfg = Config.fromfile(osp.join(ROOT, 'configs/demo/kd_r34_r18_demo.py'))
    cfg.model.teacher_ckpt = teacher_ckpt
    init_default_scope('mmpretrain')
    ckpt = tmp_path / 'kd.pth'
    torch.save({'state_dict': build_config_model(cfg).state_dict()}, ckpt)
    with pytest.raises(SystemExit, match="'loss_bbox' is not a loss term"):
        tool.main(['configs/demo/kd_r34_r18_demo.py', str(ckpt),
                   '--teacher-ckpt', teacher_ckpt, '--batches', '1',
                   '--reference', 'loss_bbox',
                   '--cfg-options',
                   f'train_dataloader.dataset.data_root={demo_scenes}'])
