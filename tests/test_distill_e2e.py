"""End to end through the tools: teacher, ISDM distillation, export,
testing the student with its own config, and resuming the distiller."""
import json
import os.path as osp

import pytest
import torch

from .test_tools import ROOT, _opts, _run  # noqa: F401


@pytest.fixture(scope='module')
def teacher(demo_scenes, tmp_path_factory):
    work = str(tmp_path_factory.mktemp('teacher'))
    _run('tools/train.py', 'configs/demo/resnet34_demo.py', '--work-dir', work,
         *_opts(demo_scenes, 1))
    return osp.join(work, 'epoch_1.pth')


@pytest.fixture(scope='module')
def distilled(teacher, demo_scenes, tmp_path_factory):
    work = str(tmp_path_factory.mktemp('isdm'))
    _run('tools/train.py', 'configs/demo/isdm_r34_r18_demo.py', '--work-dir',
         work, *_opts(demo_scenes, 1),
         f'model.teacher_ckpt={teacher}')
    return work


def test_distiller_checkpoint_has_student_and_scaler_no_teacher(distilled):
    state = torch.load(osp.join(distilled, 'epoch_1.pth'),
                       weights_only=True)['state_dict']
    assert any(k.startswith('student.backbone.') for k in state)
    assert any(k.startswith('distill_losses.loss_isdm.scaler.')
               for k in state)
    assert not any('teacher' in k for k in state)


def test_exported_student_tests_with_plain_student_config(
        distilled, demo_scenes):
    exported = osp.join(distilled, 'student_final.pth')
    assert osp.isfile(exported)
    state = torch.load(exported, weights_only=True)['state_dict']
    assert not any(k.startswith(('student.', 'distill_losses.'))
                   for k in state)
    out = osp.join(distilled, 'plain.json')
    _run('tools/test.py', 'configs/demo/resnet18_demo.py', exported,
         '--work-dir', distilled, '--out', out, '--out-item', 'metrics',
         *_opts(demo_scenes, 1))
    plain = json.load(open(out))
    # the same student through the distiller config (teacher never built)
    out2 = osp.join(distilled, 'distill.json')
    _run('tools/test.py', 'configs/demo/isdm_r34_r18_demo.py',
         osp.join(distilled, 'epoch_1.pth'), '--work-dir', distilled,
         '--out', out2, '--out-item', 'metrics', *_opts(demo_scenes, 1),
         'model.teacher_ckpt=/nonexistent/teacher.pth')
    assert json.load(open(out2)) == plain


def test_distiller_resume(distilled, teacher, demo_scenes):
    proc = _run('tools/train.py', 'configs/demo/isdm_r34_r18_demo.py',
                '--work-dir', distilled, '--resume', *_opts(demo_scenes, 2),
                f'model.teacher_ckpt={teacher}')
    assert 'resumed epoch: 1' in proc.stdout + proc.stderr
    assert osp.isfile(osp.join(distilled, 'epoch_2.pth'))


def test_missing_teacher_tells_to_train_it(demo_scenes, tmp_path):
    import subprocess
    import sys
    proc = subprocess.run(
        [sys.executable, 'tools/train.py', 'configs/demo/isdm_r34_r18_demo.py',
         '--work-dir', str(tmp_path), *_opts(demo_scenes, 1),
         'model.teacher_ckpt=/nonexistent/t.pth'],
        cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode != 0
    assert ('Teacher checkpoint "/nonexistent/t.pth" does not exist. Train '
            'the teacher first (`python tools/train.py configs/demo/'
            'resnet34_demo.py`)') in proc.stderr
