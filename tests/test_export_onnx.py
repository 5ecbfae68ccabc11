"""tools/deploy/export_onnx.py: the ONNX graph of a student (preprocessing
in the graph) gives torch's logits on raw images, from a distiller
checkpoint and from a plain one; bad checkpoints fail naming the file."""
import json
import os.path as osp

import numpy as np
import onnxruntime  # noqa: F401  (requirements/deploy.txt; never skipped)
import pytest
import torch

from mmrskd.apis import cli
from mmrskd.apis.export_onnx import (build_student, export_onnx, ort_session,
                                     pipeline_input_size)
from mmrskd.utils.state_dict import CheckpointReadError

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
PLAIN = osp.join(ROOT, 'configs', 'demo', 'resnet18_demo.py')
DISTILL = osp.join(ROOT, 'configs', 'demo', 'kd_r34_r18_demo.py')
CLASSES = ['farm', 'forest', 'harbor', 'lake', 'road', 'town']


@pytest.fixture(scope='module')
def student(tmp_path_factory):
    """A random ResNet-18 student of the demo config (BN statistics and
    logit scale made non-trivial), saved as a distiller and as a plain
    checkpoint."""
    torch.manual_seed(0)
    model = build_student(cli.load_config(PLAIN))
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    with torch.no_grad():  # logits of a trained model's size (~10)
        model.head.fc.weight.mul_(30)
    tmp = tmp_path_factory.mktemp('onnx')
    state = model.state_dict()
    distill = str(tmp / 'epoch_1.pth')
    torch.save({'meta': {'dataset_meta': {'classes': CLASSES}},
                'state_dict': {**{f'student.{k}': v for k, v in
                                  state.items()},
                               'distill_losses.loss_kd.x': torch.zeros(1)}},
               distill)
    plain = str(tmp / 'student.pth')
    torch.save({'state_dict': state}, plain)
    return model.eval(), distill, plain, tmp


def _images(n=3, size=32):
    g = torch.Generator().manual_seed(3)
    return torch.randint(0, 256, (n, 3, size, size), generator=g,
                         dtype=torch.uint8)


@torch.no_grad()
def _torch_reference(model, images):
    """mmpretrain's own test path on the raw images: data preprocessor,
    then the head's logits and ``predict``'s scores."""
    inputs = model.data_preprocessor({'inputs': images}, False)['inputs']
    scores = torch.stack([s.pred_score for s in model.predict(inputs)])
    return model(inputs, mode='tensor').numpy(), scores.numpy()


def _run(path, images):
    return ort_session(path).run(None, {'input': images.float().numpy()})[0]


@pytest.mark.parametrize('fmt', ['distiller', 'plain'])
def test_onnx_matches_torch_on_raw_images(student, fmt):
    model, distill, plain, tmp = student
    from tools.deploy import export_onnx as tool
    out = str(tmp / f'{fmt}.onnx')
    info = tool.main([DISTILL if fmt == 'distiller' else PLAIN,
                      distill if fmt == 'distiller' else plain, out,
                      '--shape', '32', '32', '--dynamic-batch'])
    images = _images()
    logits, scores = _torch_reference(model, images)
    got = _run(out, images)
    assert got.shape == (3, 6)
    assert np.abs(got - logits).max() <= 1e-4
    probs = torch.from_numpy(got).softmax(1).numpy()
    assert np.abs(probs - scores).max() <= 1e-5
    side = json.load(open(osp.join(tmp, f'{fmt}.json')))
    assert side == info
    assert side['input']['shape'] == ['batch', 3, 32, 32]
    assert side['input']['channel_order'] == 'BGR'
    assert side['preprocessing_in_graph']['channel_swap'] is True
    assert side['preprocessing_in_graph']['mean'] == [123.675, 116.28,
                                                      103.53]
    assert side['output'] == {'name': 'logits', 'shape': ['batch', 6],
                              'softmax': False}
    assert side['classes'] == (CLASSES if fmt == 'distiller' else None)
    assert side['check']['onnxruntime_max_abs_diff'] <= 1e-4


def test_rgb_input_and_softmax_output(student):
    model, _, plain, tmp = student
    out = str(tmp / 'rgb.onnx')
    info = export_onnx(PLAIN, plain, out, shape=(32, 32), softmax=True,
                       input_order='rgb', check=False)
    assert info['input']['shape'] == [1, 3, 32, 32]  # static batch
    assert info['preprocessing_in_graph']['channel_swap'] is False
    assert info['output']['name'] == 'scores' and 'check' not in info
    images = _images(n=1)
    _, scores = _torch_reference(model, images)
    got = _run(out, images.flip(1))  # the same image, in RGB
    assert np.abs(got - scores).max() <= 1e-5


def test_input_size_comes_from_the_test_pipeline(student, tmp_path):
    cfg = cli.load_config(osp.join(ROOT, 'configs', 'rsscn7_cpu',
                                   'isdm_r34_r18w8_rsscn7_cpu.py'))
    assert pipeline_input_size(cfg) == (64, 64)  # Resize 72, CenterCrop 64
    assert pipeline_input_size(cli.load_config(
        osp.join(ROOT, 'configs', 'resnet18_rsscn7.py'))) == (224, 224)
    # the demo scenes are fed at their file size: --shape is needed
    assert pipeline_input_size(cli.load_config(PLAIN)) is None
    with pytest.raises(ValueError, match='resnet18_demo.py.*--shape H W'):
        export_onnx(PLAIN, student[2], str(tmp_path / 'x.onnx'))


def test_checkpoints_that_do_not_fit_are_named(student, tmp_path):
    model, _, _, _ = student
    missing = str(tmp_path / 'nope.pth')
    with pytest.raises(FileNotFoundError, match=f'"{missing}" does not'):
        export_onnx(PLAIN, missing, str(tmp_path / 'x.onnx'), (32, 32))
    state = dict(model.state_dict())
    state['head.fc.weight'] = torch.zeros(10, 512)  # another class count
    wrong = str(tmp_path / 'other_head.pth')
    torch.save({'state_dict': state}, wrong)
    with pytest.raises(CheckpointReadError,
                       match=f'"{wrong}" does not fit.*head.fc.weight'):
        export_onnx(DISTILL, wrong, str(tmp_path / 'x.onnx'), (32, 32))
    junk = str(tmp_path / 'junk.pth')
    with open(junk, 'wb') as f:
        f.write(b'not a checkpoint')
    with pytest.raises(CheckpointReadError, match=f'"{junk}"'):
        export_onnx(PLAIN, junk, str(tmp_path / 'x.onnx'), (32, 32))
    assert not osp.exists(tmp_path / 'x.onnx')
