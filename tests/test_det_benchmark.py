"""run_det_benchmark.py without training a detector: the data preparation
on a generated airbus-like folder, the run plan and its options, resume and
skip, the mid-epoch resume its checkpoint options give (a toy model), and
the report's numbers from fake results."""
import glob
import json
import os
import os.path as osp
import shutil
import statistics
import sys
import threading
import types

import cv2
import numpy as np
import pytest
import torch

from tools.analysis import bench_runs
from tools.analysis import run_det_benchmark as det

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
FAMILIES = {f['name']: f for f in det.PROTOCOL['families']}
RUNS = {r['key']: r for r in det.all_runs(det.PROTOCOL)}


def _make_airbus(root):
    """Two 512 px images (one per split) and annotations.csv in the sample
    set's format (closed 5-point rings, image_id = file name)."""
    boxes = {('train', 'a1.jpg'): [(100, 120, 180, 190, 'Airplane'),
                                   (300, 300, 370, 350, 'Airplane')],
             ('valid', 'b1.jpg'): [(200, 40, 260, 110, 'Airplane'),
                                   (0, 400, 40, 470, 'Truncated_airplane')]}
    rng = np.random.RandomState(0)
    rows = ['id,image_id,geometry,class']
    for (split, name), objects in boxes.items():
        os.makedirs(osp.join(root, split), exist_ok=True)
        cv2.imwrite(osp.join(root, split, name),
                    rng.randint(0, 255, (512, 512, 3), dtype=np.uint8))
        for x1, y1, x2, y2, cls in objects:
            ring = ', '.join(f'({x}, {y})' for x, y in (
                (x1, y1), (x2, y1), (x2, y2), (x1, y2), (x1, y1)))
            rows.append(f'{len(rows)},{name},"[{ring}]",{cls}')
    with open(osp.join(root, 'annotations.csv'), 'w') as f:
        f.write('\n'.join(rows) + '\n')
    return root


def test_prepare_data_converts_once(tmp_path, monkeypatch):
    src = _make_airbus(str(tmp_path / 'airbus_aircraft'))
    wd = str(tmp_path / 'runs')
    os.makedirs(wd)
    out = det.prepare_data(src, wd, sys.executable)
    assert out == osp.join(wd, 'data', 'airbus_256')
    # halved to 256 px: one patch per image, both aircraft in the train one
    patch = 'a1__0.5__0___0'
    assert os.listdir(osp.join(out, 'train', 'images')) == [patch + '.png']
    with open(osp.join(out, 'train', 'labelTxt', patch + '.txt')) as f:
        assert sum(' plane ' in line for line in f) == 2
    assert os.listdir(osp.join(out, 'val', 'images')) == ['b1__0.5__0___0.png']
    assert osp.isfile(osp.join(out, det.PREPARED))

    calls = []

    def fake_run(cmd, **kwargs):  # the converters, without converting
        calls.append(cmd)
        os.makedirs(out, exist_ok=True)
        return types.SimpleNamespace(returncode=0)

    monkeypatch.setattr(det.subprocess, 'run', fake_run)
    assert det.prepare_data(src, wd, sys.executable) == out and calls == []
    # without the marker (an interrupted conversion): done again from scratch
    os.remove(osp.join(out, det.PREPARED))
    assert det.prepare_data(src, wd, 'py') == out
    assert calls == det.prepare_commands(src, osp.join(wd, 'data'), 'py')
    assert not osp.exists(osp.join(out, 'train'))
    with pytest.raises(FileNotFoundError, match='Airbus aircraft not found'):
        det.prepare_data(str(tmp_path / 'none'), str(tmp_path), 'py')


def test_prepare_commands_are_the_configs():
    """The commands that configs/_base_/datasets/airbus_det.py documents."""
    text = open(osp.join(ROOT, 'configs/_base_/datasets/airbus_det.py')).read()
    comments = [line[1:].strip() for line in text.splitlines()
                if line.startswith('#')]
    joined = ' '.join(comments).replace(' \\ ', ' ')
    documented = ['python ' + c.strip() for c in joined.split('python ')[1:]]
    ours = det.prepare_commands('data/airbus_aircraft', 'data', 'python')
    assert [' '.join(c) for c in ours] == documented


def test_plan_and_run_options():
    jobs = det.plan(det.PROTOCOL, [0, 1],
                    ['fcos_alone', 'fcos_dynkd', 'retinanet_fgd'])
    assert [f'{run["key"]}_s{seed}' for seed, run, _ in jobs] == [
        'retinanet_teacher_s0', 'retinanet_fgd_s0', 'fcos_teacher_s0',
        'fcos_alone_s0', 'fcos_dynkd_s0', 'retinanet_fgd_s1',
        'fcos_alone_s1', 'fcos_dynkd_s1']
    # a student alone does not need its family's teacher
    assert [run['key'] for _, run, _ in det.plan(
        det.PROTOCOL, [0, 1], ['fcos_alone', 'retinanet_teacher'])] == [
            'retinanet_teacher', 'fcos_alone', 'fcos_alone']
    everything = det.plan(det.PROTOCOL, [0])
    # 3-epoch teachers' families, then the 9-epoch ones (their students
    # alone are the same runs, planned once)
    # per family teacher + alone (3-epoch families) + distillers
    assert len(everything) == 7 + 7 + 5 + 6 + 2 + 6 + 6
    assert len({(s, r['key']) for s, r, _ in everything}) == len(everything)
    baselines = ('fgd', 'pkd', 'cwd', 'mgd')
    assert {r['key'] for r in RUNS.values() if r.get('distiller')} == {
        *[f'retinanet{t}_{m}' for t in ('', '-t9e')
          for m in ('dynkd', *baselines)],
        *[f'faster-rcnn_{m}' for m in ('dynkd', *baselines)],
        *[f'fcos-t9e_{m}' for m in ('dynkd', *baselines)],
        'faster-rcnn-t9e_dynkd', 'fcos_dynkd', 'fcos_dynkd_gd01',
        'fcos_dynkd_isd01',
        *[f'fcos-t9e_dynkd_{part}' for part in ('nogd', 'gd', 'isd', 'tsa',
                                                 'isd_cls', 'isd_box')]}
    assert RUNS['fcos_dynkd_gd01']['config'] == RUNS['fcos_dynkd']['config']
    from mmengine.config import Config
    for run in RUNS.values():  # a variant overrides a setting its config has
        for option in run.get('options', []):
            node = Config.fromfile(osp.join(ROOT, run['config']))
            for part in option.split('=')[0].split('.'):
                assert part in node, (run['key'], option)
                node = node[part]
    assert det.run_options(RUNS['fcos_dynkd_gd01'], 0, '/d', '/t.pth')[-2:] \
        == ['model.gd.loss_weight=0.1', 'model.teacher_ckpt=/t.pth']
    assert det.run_options(RUNS['fcos-t9e_dynkd_tsa'], 0, '/d', '/t.pth')[
        -3:] == ['model.gd=None', 'model.isd=None', 'model.teacher_ckpt=/t.pth']
    for run in RUNS.values():
        assert osp.isfile(osp.join(ROOT, run['config'])), run['config']

    # the teacher's final epoch is read from its config
    assert det.teacher_checkpoint('/w', FAMILIES['fcos']) == \
        '/w/fcos_teacher_s0/epoch_3.pth'


def test_nine_epoch_teachers():
    """The 9-epoch teacher is its 3-epoch config with the schedule three
    times as long; its family distils through the same configs into the
    same student alone, and its distillers read epoch_9.pth."""
    from mmengine.config import Config
    for name in ('retinanet', 'faster-rcnn', 'fcos'):
        short, long = FAMILIES[name], FAMILIES[f'{name}-t9e']
        three = Config.fromfile(osp.join(ROOT, short['teacher']['config']))
        nine = Config.fromfile(osp.join(ROOT, long['teacher']['config']))
        assert nine.train_cfg.max_epochs == 9 and \
            nine.train_cfg.val_interval == 3
        warmup, cosine = nine.param_scheduler
        assert warmup == three.param_scheduler[0]
        assert (cosine.end, cosine.T_max) == (9, 9)
        assert dict(cosine, end=3, T_max=3) == three.param_scheduler[1]
        for key in ('model', 'optim_wrapper', 'train_dataloader',
                    'val_evaluator'):
            assert nine[key] == three[key], (name, key)
        assert long['students'][0] == RUNS[f'{name}_alone']
        for run in long['students'][1:]:  # the 3-epoch family's configs
            method = run['key'].split('_')[1]
            assert run['config'] == \
                f'configs/airbus/{method}_{name}_r50_r18_airbus.py'
            assert run.get('distiller')
            # only the variants of dynamic KD change its settings
            assert bool(run.get('options')) == run['key'].startswith(
                f'{name}-t9e_dynkd_')
        assert det.teacher_checkpoint('/w', long) == \
            f'/w/{name}-t9e_teacher_s0/epoch_9.pth'
    # the report shows a 9-epoch family once a run of its own finished
    alone = dict(key='fcos_alone', seed=0, map50=60.0, ap=30.0, ap75=20.0,
                 wall_seconds=60.0)
    results = {'fcos_alone': [alone]}
    text = det.write_report(det.PROTOCOL, results, [0], None, [])
    assert '#### FCOS\n' in text and 'teacher of 9 epochs' not in text
    results['fcos-t9e_teacher'] = [dict(alone, key='fcos-t9e_teacher')]
    text = det.write_report(det.PROTOCOL, results, [0], None, [])
    assert '#### FCOS, teacher of 9 epochs' in text
    assert '| teacher R50-FPN, 9 epochs | fcos_r50_fpn_9e_airbus.py |' in text
    # a variant of dynamic KD shows its --cfg-options, in the table and in
    # the list of configs
    results['fcos-t9e_dynkd_tsa'] = [dict(alone, key='fcos-t9e_dynkd_tsa')]
    text = det.write_report(det.PROTOCOL, results, [0], None, [])
    assert '| TSA only | dynkd_fcos_r50_r18_airbus.py --cfg-options ' \
        'model.gd=None model.isd=None | 1 |' in text
    assert 'TSA only `configs/airbus/dynkd_fcos_r50_r18_airbus.py ' \
        '--cfg-options model.gd=None model.isd=None`' in text
    jobs = det.plan(det.PROTOCOL, [0, 1], ['fcos_alone', 'fcos-t9e_dynkd'])
    assert [f'{r["key"]}_s{s}' for s, r, _ in jobs] == [
        'fcos_alone_s0', 'fcos-t9e_teacher_s0', 'fcos-t9e_dynkd_s0',
        'fcos_alone_s1', 'fcos-t9e_dynkd_s1']


def test_max_epochs_is_read_from_the_config(tmp_path):
    config = tmp_path / 'five_epochs.py'
    config.write_text('train_cfg = dict(max_epochs=5)\n')
    assert det.max_epochs(str(config)) == 5


def _cfg_options(config, options):
    from tools import train as train_tool
    return train_tool.parse_args([config, '--cfg-options',
                                  *options]).cfg_options


def test_run_options_reach_the_config():
    from mmengine.config import Config
    run = RUNS['fcos_dynkd']
    ckpt = '/w/fcos_teacher_s0/epoch_3.pth'
    cfg = Config.fromfile(osp.join(ROOT, run['config']))
    cfg.merge_from_dict(_cfg_options(
        run['config'], det.run_options(run, 2, '/d/airbus_256', ckpt)))
    assert cfg.randomness.seed == 2 and cfg.model.teacher_ckpt == ckpt
    for split in ('train', 'val', 'test'):
        assert cfg[f'{split}_dataloader'].dataset.data_root == \
            '/d/airbus_256'
    assert cfg.train_cfg.type == 'ResumableEpochBasedTrainLoop'
    assert cfg.train_cfg.max_epochs == 3
    assert cfg.default_hooks.checkpoint.interval == 1  # epoch checkpoints
    assert cfg.default_hooks.iter_checkpoint == dict(
        type='CheckpointHook', by_epoch=False, interval=50,
        max_keep_ckpts=2, save_last=False)
    alone = det.run_options(RUNS['fcos_alone'], 0, '/d', None)
    assert not any(o.startswith('model.teacher_ckpt') for o in alone)


@pytest.mark.parametrize('part,terms', [
    ('nogd', {'loss_isd'}), ('gd', {'loss_gd'}), ('isd', {'loss_isd'}),
    ('tsa', set()), ('isd_cls', {'loss_isd'}), ('isd_box', {'loss_isd'})])
def test_part_variants_train_only_their_parts(part, terms):
    """A variant of ``det.PARTS``, built through tools/train.py's own
    --cfg-options, trains the student's FCOS losses plus the named terms;
    TSA (on in nogd and tsa) weights the box loss above the student's own
    (outside a loop, training progress is 1: TSA at full strength)."""
    from mmdet.registry import MODELS
    from mmengine.config import Config
    from mmengine.registry import DefaultScope
    from tests.test_models.test_dynamic_det import _batch
    run = RUNS[f'fcos-t9e_dynkd_{part}']
    cfg = Config.fromfile(osp.join(ROOT, run['config']))
    cfg.merge_from_dict(_cfg_options(run['config'], run['options']))
    cfg.model.update(teacher_ckpt=None, allow_random_teacher=True)
    with DefaultScope.overwrite_default_scope('mmdet'):
        torch.manual_seed(0)
        model = MODELS.build(cfg.model).train()
        data = model.data_preprocessor(_batch(), True)
        losses = model(**data, mode='loss')
        own = model.student.loss(data['inputs'], data['data_samples'])
    assert set(losses) == set(own) | terms
    tsa = model.tsa is not None
    assert tsa == (part in ('nogd', 'tsa'))
    bigger = losses['loss_bbox'] > own['loss_bbox'] + 1e-6
    assert bool(bigger) == tsa
    assert torch.equal(losses['loss_cls'], own['loss_cls'])
    if model.isd is not None:  # one of ISD's imitation terms off, or none
        assert (model.isd['cls_weight'], model.isd['box_weight']) == dict(
            isd_cls=(1, 0), isd_box=(0, 1)).get(part, (1, 1))


def _train_toy(work_dir, name, train_cfg, default_hooks, resume_from=None):
    """A 2 -> 1 linear regression, 60 samples of batch 2 (30 iterations an
    epoch), shuffled by seed 0; returns the finished runner."""
    from mmengine.model import BaseModel
    from mmengine.runner import Runner

    import mmrskd  # noqa: F401  (registers the loop)

    class Toy(BaseModel):

        def __init__(self):
            super().__init__()
            self.linear = torch.nn.Linear(2, 1)

        def forward(self, inputs, labels, mode='tensor'):
            out = self.linear(inputs)
            return dict(loss=((out - labels)**2).mean()) \
                if mode == 'loss' else out

    x = torch.randn(60, 2, generator=torch.Generator().manual_seed(0))
    data = [dict(inputs=x[i], labels=x[i].sum(0, keepdim=True))
            for i in range(60)]
    runner = Runner(
        model=Toy(), work_dir=work_dir, experiment_name=name,
        train_dataloader=dict(
            dataset=data, batch_size=2, num_workers=0,
            sampler=dict(type='DefaultSampler', shuffle=True, seed=0),
            collate_fn=dict(type='default_collate')),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.05,
                                          momentum=0.9)),
        train_cfg=train_cfg, default_hooks=default_hooks,
        randomness=dict(seed=0), resume=resume_from is not None,
        load_from=resume_from, log_level='WARNING')
    runner.train()
    return runner


def test_checkpoint_options_resume_mid_epoch(tmp_path):
    """A run resumed from the iteration checkpoint that the benchmark's
    options write within an epoch ends with the weights of the run that
    was never interrupted (mmengine's own loop trains 20 batches twice)."""
    from mmengine.config import Config
    opts = _cfg_options('x.py', det.CHECKPOINT_OPTIONS)
    cfg = Config(dict(  # as the airbus configs have them
        train_cfg=dict(type='EpochBasedTrainLoop', max_epochs=3),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook',
                                           interval=1))))
    cfg.merge_from_dict(opts)
    hooks = cfg.default_hooks.to_dict()
    whole = _train_toy(str(tmp_path / 'whole'), f'{tmp_path.name}_whole',
                       cfg.train_cfg.to_dict(), hooks)
    ckpts = sorted(osp.basename(p)
                   for p in glob.glob(str(tmp_path / 'whole' / '*.pth')))
    assert ckpts == ['epoch_1.pth', 'epoch_2.pth', 'epoch_3.pth',
                     'iter_50.pth']
    meta = torch.load(tmp_path / 'whole' / 'iter_50.pth',
                      weights_only=False)['meta']
    assert (meta['epoch'], meta['iter']) == (1, 50)  # 20 batches into it

    for name, loop in (('resumed', cfg.train_cfg.type),
                       ('stock', 'EpochBasedTrainLoop')):
        os.makedirs(tmp_path / name)
        shutil.copy(tmp_path / 'whole' / 'iter_50.pth', tmp_path / name)
        runner = _train_toy(
            str(tmp_path / name), f'{tmp_path.name}_{name}',
            dict(cfg.train_cfg.to_dict(), type=loop), hooks,
            str(tmp_path / name / 'iter_50.pth'))
        same = all(torch.equal(a, b) for a, b in zip(
            whole.model.state_dict().values(),
            runner.model.state_dict().values()))
        if name == 'resumed':
            assert runner.iter == 90 and same
        else:
            assert runner.iter == 110 and not same


METRICS = {'pascal_voc/mAP': 0.7125, 'pascal_voc/AP50': 0.713,
           'coco/bbox_mAP': 0.351, 'coco/bbox_mAP_50': 0.702,
           'coco/bbox_mAP_75': 0.298, 'coco/bbox_mAP_s': 0.2}


def test_run_one_resumes_tests_and_skips_when_finished(tmp_path,
                                                       monkeypatch):
    calls = []

    def fake_run(cmd, **kwargs):
        calls.append(cmd)
        if cmd[1] == 'tools/train.py':  # the run reaches its final epoch
            wd = cmd[cmd.index('--work-dir') + 1]
            open(osp.join(wd, 'epoch_3.pth'), 'w').close()
        else:
            with open(cmd[cmd.index('--out') + 1], 'w') as f:
                json.dump(METRICS, f)
        return types.SimpleNamespace(returncode=0)

    monkeypatch.setattr(bench_runs.subprocess, 'run', fake_run)
    run, ckpt = RUNS['fcos_dynkd'], '/w/fcos_teacher_s0/epoch_3.pth'
    wd = tmp_path / 'fcos_dynkd_s1'
    wd.mkdir()
    # killed at iteration 100: mmengine's last_checkpoint names iter_100
    for name in ('iter_50.pth', 'iter_100.pth'):
        (wd / name).touch()
    (wd / 'last_checkpoint').write_text(str(wd / 'iter_100.pth'))
    assert det.resume_point(str(wd)) == str(wd / 'iter_100.pth')
    result = det.run_one(run, 1, str(wd), '/d', 'py', ckpt)
    options = det.run_options(run, 1, '/d', ckpt)
    assert calls[0] == ['py', 'tools/train.py', run['config'], '--work-dir',
                        str(wd), '--resume', '--cfg-options', *options]
    assert calls[1][:4] == ['py', 'tools/test.py', run['config'],
                            str(wd / 'epoch_3.pth')]
    assert calls[1][-len(options):] == options
    assert result['key'] == 'fcos_dynkd' and result['seed'] == 1
    assert result['map50'] == pytest.approx(71.25)
    assert (result['ap'], result['ap50'], result['ap75']) == \
        pytest.approx((35.1, 70.2, 29.8))
    assert result['metrics'] == METRICS and result['wall_seconds'] >= 0
    assert not glob.glob(str(wd / 'iter_*.pth'))  # finished: not needed
    calls.clear()
    assert det.run_one(run, 1, str(wd), '/d', 'py', ckpt) == result
    assert calls == []
    fresh = tmp_path / 'fcos_alone_s0'
    det.run_one(RUNS['fcos_alone'], 0, str(fresh), '/d', 'py')
    assert '--resume' not in calls[0] and det.resume_point(str(fresh)) is None


def _fake_results(calls):
    """run_one without training: map50 60 + seed, teacher +10, dynamic KD
    +2 + seed / 2 (so its per-seed differences vary)."""

    def run_one(run, seed, work_dir, data_root, python, teacher_ckpt=None):
        finished = bench_runs.load_result(work_dir)
        if finished is not None:
            return finished
        calls.append((run['key'], seed, teacher_ckpt))
        os.makedirs(work_dir, exist_ok=True)
        bonus = 10.0 if run['key'].endswith('_teacher') else \
            2.0 + seed / 2 if run.get('distiller') else 0.0
        map50 = 60.0 + seed + bonus
        result = dict(det._want(run, seed), map50=map50, ap=map50 / 2,
                      ap50=map50, ap75=map50 / 3, wall_seconds=120.0)
        bench_runs.save_result(work_dir, result)
        if run['key'].endswith('_teacher'):  # what distillers read
            open(osp.join(work_dir, 'epoch_3.pth'), 'a').close()
        return result

    return run_one


def _run(tmp_path, seeds, methods):
    return det.run_benchmark(
        det.PROTOCOL, seeds, str(tmp_path / 'runs'),
        str(tmp_path / 'bench.md'), 'src', 'py', methods,
        ['--seeds', *map(str, seeds), '--methods', *methods])


def test_benchmark_resumes_and_reports_paired_differences(tmp_path,
                                                          monkeypatch):
    calls = []
    monkeypatch.setattr(det, 'run_one', _fake_results(calls))
    monkeypatch.setattr(det, 'prepare_data', lambda src, wd, py: '/d')
    (tmp_path / 'bench.md').write_text(
        '# Benchmarks\n\n## Detection on real data: Airbus aircraft\n\n'
        '| hand | table |\n\n```bash\n# a comment, not a heading\n```\n\n'
        '## Figures\n\nfigures\n')
    methods = ['fcos_alone', 'fcos_dynkd']
    _run(tmp_path, [0, 1], methods)
    ckpt = str(tmp_path / 'runs' / 'fcos_teacher_s0' / 'epoch_3.pth')
    assert calls == [('fcos_teacher', 0, None), ('fcos_alone', 0, None),
                     ('fcos_dynkd', 0, ckpt), ('fcos_alone', 1, None),
                     ('fcos_dynkd', 1, ckpt)]
    calls.clear()
    results = _run(tmp_path, [0, 1, 2], methods)  # only seed 2 is new
    assert calls == [('fcos_alone', 2, None), ('fcos_dynkd', 2, ckpt)]
    assert sorted(results) == ['fcos_alone', 'fcos_dynkd', 'fcos_teacher']

    text = (tmp_path / 'bench.md').read_text()
    assert text.index('| hand | table |') < text.index(det.START) < \
        text.index(det.END) < text.index('## Figures')
    assert text.count(det.START) == 1 and '#### FCOS' in text
    assert '#### RetinaNet' not in text  # no finished run
    rows = {line.split(' | ')[0][2:]: line for line in text.splitlines()
            if line.startswith('| ') and 'airbus.py' in line}
    dynkd = [62.0, 63.5, 65.0]
    diffs = [2.0, 2.5, 3.0]
    m, sd = statistics.mean(diffs), statistics.stdev(diffs)
    h = 4.303 * sd / 3 ** 0.5  # t(0.975, df 2) * sd / sqrt(n)
    assert rows['dynamic KD (GD + ISD + TSA)'] == (
        '| dynamic KD (GD + ISD + TSA) | dynkd_fcos_r50_r18_airbus.py | 3 | '
        f'{statistics.mean(dynkd):.2f} ± {statistics.stdev(dynkd):.2f} | '
        f'{statistics.mean(dynkd) / 2:.2f} ± '
        f'{statistics.stdev(dynkd) / 2:.2f} | '
        f'{statistics.mean(dynkd) / 3:.2f} ± '
        f'{statistics.stdev(dynkd) / 3:.2f} | '
        f'{m:+.2f} ± {sd:.2f} [{m - h:+.2f}, {m + h:+.2f}] | '
        '62.00, 63.50, 65.00 | 2.0 |')
    assert rows['teacher R50-FPN'].startswith(
        '| teacher R50-FPN | fcos_r50_fpn_airbus.py | 1 | 70.00 | 35.00 | ')
    assert '| - | 60.00, 61.00, 62.00 |' in rows['student R18-FPN alone']
    assert 'Seeds finished: 0, 1, 2' in text
    assert 'run_det_benchmark.py --seeds 0 1 2 --methods fcos_alone ' \
        'fcos_dynkd' in text
    assert '`configs/airbus/dynkd_fcos_r50_r18_airbus.py`' in text

    # --report-only rewrites the same section from the finished runs
    det.main(['--report-only', '--work-dir', str(tmp_path / 'runs'),
              '--report', str(tmp_path / 'bench.md'), '--seeds', '0'])
    assert (tmp_path / 'bench.md').read_text().count(det.START) == 1


def test_copies_wait_for_a_teacher_and_skip_a_busy_run(tmp_path,
                                                       monkeypatch):
    """Another copy trains the teacher and the student alone: this copy
    skips the student, waits for the teacher, then runs the distiller."""
    import fcntl
    calls = []
    monkeypatch.setattr(det, 'run_one', _fake_results(calls))
    monkeypatch.setattr(det, 'prepare_data', lambda src, wd, py: '/d')
    runs = tmp_path / 'runs'
    runs.mkdir()
    teacher_lock = open(runs / '.fcos_teacher_s0.lock', 'w')
    alone_lock = open(runs / '.fcos_alone_s0.lock', 'w')
    for f in (teacher_lock, alone_lock):
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)

    def other_copy_finishes_the_teacher():
        _fake_results([])(RUNS['fcos_teacher'], 0,
                          str(runs / 'fcos_teacher_s0'), '/d', 'py')
        teacher_lock.close()

    timer = threading.Timer(2.0, other_copy_finishes_the_teacher)
    timer.start()
    try:
        _run(tmp_path, [0], ['fcos_alone', 'fcos_dynkd'])
    finally:
        timer.join()
        alone_lock.close()
    assert calls == [('fcos_dynkd', 0,
                      str(runs / 'fcos_teacher_s0' / 'epoch_3.pth'))]


def test_methods_rejects_unknown_keys(capsys):
    assert det.parse_args(['--methods', 'fcos_dynkd', 'retinanet_fgd'
                           ]).methods == ['fcos_dynkd', 'retinanet_fgd']
    with pytest.raises(SystemExit):
        det.parse_args(['--methods', 'fcos_fgd'])
    assert "invalid choice: 'fcos_fgd'" in capsys.readouterr().err


def _hashable_teachers(calls, weight):
    """:func:`_fake_results` whose teachers write a real checkpoint of
    weights ``weight[0]`` (and metadata that differs between calls)."""
    fake = _fake_results(calls)

    def run_one(run, seed, work_dir, *a, **k):
        result = fake(run, seed, work_dir, *a, **k)
        if run['key'].endswith('_teacher'):
            torch.save(dict(state_dict=dict(w=torch.full((3, ), weight[0])),
                            meta=dict(time=len(calls))),
                       osp.join(work_dir, 'epoch_3.pth'))
        return result

    return run_one


def test_archive_restores_students_alone_and_same_teacher_distillers(
        tmp_path, monkeypatch):
    """A new work dir (a new machine of the same kind) restores the
    student alone, and the distiller with the archived teacher's
    weights; the teacher trains only for a distiller that has to run, and
    when it does not train to the archived weights the restored
    distillers train again."""
    calls, weight = [], [1.0]
    monkeypatch.setattr(det, 'run_one', _hashable_teachers(calls, weight))
    monkeypatch.setattr(det, 'prepare_data', lambda src, wd, py: '/d')
    archive = str(tmp_path / 'archive.json')
    methods = ['fcos_alone', 'fcos_dynkd']

    def bench(name, seeds):
        calls.clear()
        return det.run_benchmark(det.PROTOCOL, seeds, str(tmp_path / name),
                                 str(tmp_path / 'bench.md'), 'src', 'py',
                                 methods, archive=archive)

    bench('a', [0])
    assert [c[0] for c in calls] == ['fcos_teacher', 'fcos_alone',
                                     'fcos_dynkd']
    entries = {e['key']: e for e in json.load(open(archive))['runs']}
    from tools.analysis import bench_archive as archived
    fp = archived.weights_fingerprint(
        str(tmp_path / 'a' / 'fcos_teacher_s0' / 'epoch_3.pth'))
    assert entries['fcos_teacher']['weights_sha256'] == fp
    assert entries['fcos_dynkd']['teacher_sha256'] == fp
    assert entries['fcos_alone']['teacher_sha256'] is None

    # a new work dir of the same machine kind: everything restores, the
    # teacher is not trained (no distiller has to run)
    results = bench('b', [0])
    assert calls == []
    assert {k: v[0]['restored_from'] for k, v in results.items()} == {
        k: archive for k in ('fcos_teacher', 'fcos_alone', 'fcos_dynkd')}
    # a new seed: the teacher trains (to the same weights, other
    # metadata); seed 0's distiller stays restored
    results = bench('b', [0, 1])
    assert [c[:2] for c in calls] == [('fcos_teacher', 0),
                                      ('fcos_alone', 1), ('fcos_dynkd', 1)]
    assert 'restored_from' in results['fcos_dynkd'][0]
    assert len(json.load(open(archive))['runs']) == 5

    # the teacher trains to other weights: the distillers restored with
    # the archived one are dropped and train with this one
    weight[0] = 2.0
    bench('c', [0, 2])
    assert [c[:2] for c in calls] == [('fcos_teacher', 0), ('fcos_dynkd', 0),
                                      ('fcos_alone', 2), ('fcos_dynkd', 2)]
    entries = json.load(open(archive))['runs']
    assert [e['weights_sha256'] for e in entries
            if e['key'] == 'fcos_teacher'] != [fp]
    assert len(entries) == 5 + 3



def test_a_new_revision_of_a_method_is_not_restored_nor_resumed(
        tmp_path, monkeypatch):
    """FCOS's dynamic KD is at revision 1 (ISD's log-distance pull): its
    archived runs of revision 0 are not restored, the student alone (no
    revision) still is, and a work dir finished at revision 0 is refused
    with its path instead of being reported as today's result."""
    assert RUNS['fcos_dynkd']['revision'] == det.FCOS_DYNKD_REVISION == 1
    assert RUNS['fcos-t9e_dynkd']['revision'] == 1
    assert RUNS['fcos_alone'].get('revision', 0) == 0
    assert RUNS['retinanet_dynkd']['revision'] == 0
    calls, run_one = [], det.run_one
    monkeypatch.setattr(det, 'run_one', _hashable_teachers(calls, [1.0]))
    monkeypatch.setattr(det, 'prepare_data', lambda src, wd, py: '/d')
    archive = str(tmp_path / 'archive.json')
    methods = ['fcos_alone', 'fcos_dynkd']
    det.run_benchmark(det.PROTOCOL, [0], str(tmp_path / 'a'),
                      str(tmp_path / 'bench.md'), 'src', 'py', methods,
                      archive=archive)
    data = json.load(open(archive))
    assert {e['key']: e['revision'] for e in data['runs']} == {
        'fcos_teacher': 0, 'fcos_alone': 0, 'fcos_dynkd': 1}
    for entry in data['runs']:  # as archived before revisions existed
        entry.pop('revision')
    json.dump(data, open(archive, 'w'))
    calls.clear()
    det.run_benchmark(det.PROTOCOL, [0], str(tmp_path / 'b'),
                      str(tmp_path / 'bench.md'), 'src', 'py', methods,
                      archive=archive)
    assert [c[0] for c in calls] == ['fcos_teacher', 'fcos_dynkd']

    wd = tmp_path / 'old' / 'fcos_dynkd_s0'
    wd.mkdir(parents=True)
    bench_runs.save_result(str(wd), dict(det._want(RUNS['fcos_dynkd'], 0),
                                         revision=0, map50=4.95))
    with pytest.raises(SystemExit, match=r'fcos_dynkd_s0: trained at '
                       r'revision 0 .* at revision 1'):
        run_one(RUNS['fcos_dynkd'], 0, str(wd), '/d', 'py', '/t.pth')
    with pytest.raises(SystemExit, match='fcos_dynkd_s0: trained at '
                       'revision 0'):  # nor reported (--report-only)
        det.collect(det.PROTOCOL, str(tmp_path / 'old'))
