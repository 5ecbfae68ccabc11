"""run_rs_benchmark.py end to end on the generated demo scenes: every run
trains and is tested, the report holds mean ± std per method, a second
call resumes (skips finished runs, continues an interrupted one)."""
import glob
import json
import os
import os.path as osp
import shutil
import statistics
import sys

import pytest

from tools.analysis import bench_runs
from tools.analysis import run_rs_benchmark as bench

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
PROTOCOL = dict(
    name='demo scenes, 1 epoch',
    teacher=dict(key='teacher', label='teacher ResNet-34',
                 config='configs/demo/resnet34_demo.py'),
    students=[
        dict(key='alone', label='student alone',
             config='configs/demo/resnet18_demo.py'),
        dict(key='kd', label='KD', config='configs/demo/kd_r34_r18_demo.py',
             options=['model.distill_losses.loss_kd.temperature=2.0']),
    ],
    epochs=1)


def _run(tmp_path, demo_scenes, seeds, **kw):
    return bench.run_benchmark(
        PROTOCOL, seeds, str(tmp_path / 'runs'), str(tmp_path / 'bench.md'),
        demo_scenes, sys.executable, argv=['--seeds'] + list(map(str, seeds)),
        **kw)


def test_benchmark_runs_all_seeds_and_reports_mean_std(tmp_path,
                                                       demo_scenes,
                                                       monkeypatch):
    # through the teacher cache (--teacher-cache): built once, read by KD;
    # seed 0 trains for real, seed 1's runs only leave their result (the
    # report's statistics need two seeds, not two more trainings)
    real = bench.run_one
    monkeypatch.setattr(bench, 'run_one', lambda run, seed, *a, **k: (
        _fake_run_one if seed == 1 else real)(run, seed, *a, **k))
    results = _run(tmp_path, demo_scenes, [0, 1], augment_seed=3,
                   archive=str(tmp_path / 'archive.json'),
                   published=str(tmp_path / 'published'))
    assert {k: sorted(r['seed'] for r in v) for k, v in results.items()} == \
        {'teacher': [0], 'alone': [0, 1], 'kd': [0, 1]}
    runs = tmp_path / 'runs'
    kd0 = json.loads((runs / 'kd_s0' / 'result.json').read_text())
    assert 0 <= kd0['top1'] <= 100 and kd0['wall_seconds'] > 0
    assert kd0['options'] == ['model.distill_losses.loss_kd.temperature=2.0']
    log = (runs / 'kd_s0' / 'run.log').read_text()
    # the KD run distilled from the benchmark's own teacher, with its option
    assert str(runs / 'teacher_s0' / 'epoch_1.pth') in log
    assert 'temperature=2.0' in log
    assert 'seed=0' in log
    cache = runs / 'teacher_cache'
    manifest = json.loads((cache / 'manifest.json').read_text())
    # the demo pipeline's only randomness is a flip: one row per variant
    assert manifest['variants'] == ['flip=none', 'flip=horizontal',
                                    'flip=vertical']
    assert f"'{cache}'" in log.split('teacher_cache=dict(')[1][:300]
    assert 'augment_seed=3' in log
    assert 'augment_seed=3' in (runs / 'alone_s0' / 'run.log').read_text()
    assert json.loads((runs / 'alone_s1' / 'result.json').read_text())[
        'extra'] == ['train_dataloader.sampler.augment_seed=3']
    assert kd0['extra'] == ['train_dataloader.sampler.augment_seed=3',
                            f'model.teacher_cache.path={cache}']
    alone0 = json.loads((runs / 'alone_s0' / 'result.json').read_text())
    assert alone0['extra'] == ['train_dataloader.sampler.augment_seed=3']

    report = (tmp_path / 'bench.md').read_text()
    row = next(line for line in report.splitlines()
               if line.startswith('| KD |'))
    kd = [r['top1'] for r in sorted(results['kd'], key=lambda r: r['seed'])]
    alone = {r['seed']: r['top1'] for r in results['alone']}
    diff = [r['top1'] - alone[r['seed']] for r in results['kd']]
    assert row.startswith(
        f'| KD | 2 | {statistics.mean(kd):.2f} ± {statistics.stdev(kd):.2f} |')
    m, sd = statistics.mean(diff), statistics.stdev(diff)
    h = 12.706 * sd / 2 ** 0.5  # t(0.975, df 1) * sd / sqrt(n)
    assert f'| {m:+.2f} ± {sd:.2f} [{m - h:+.2f}, {m + h:+.2f}] | - |' in row
    assert f'| {kd[0]:.2f}, {kd[1]:.2f} |' in row
    assert '`configs/demo/kd_r34_r18_demo.py`' in report
    assert 'logits from a cache' in report and 'augmentation seed 3' in report
    _check_resume_and_skip(runs / 'alone_s0', demo_scenes, alone0)
    _check_published(tmp_path, demo_scenes, kd0, results['teacher'][0])


def _check_published(tmp_path, demo_scenes, kd0, teacher):
    """The teacher's logits were published (no published ones before);
    a KD run reading them, without a teacher checkpoint, is the KD run
    that read the work dir's cache, bit for bit."""
    from tools.analysis import bench_archive as archived
    from tools.analysis import bench_cache
    published = bench_cache.load(str(tmp_path / 'published'))
    assert published['teacher'] == teacher
    fingerprint = archived.weights_fingerprint(
        str(tmp_path / 'runs' / 'teacher_s0' / 'epoch_1.pth'))
    assert published['weights_sha256'] == fingerprint
    entries = {(e['key'], e['seed']): e
               for e in archived.load(str(tmp_path / 'archive.json'))}
    assert entries[('kd', 0)]['cache_sha256'] == published['logits_sha256']
    assert 'cache_sha256' not in entries[('alone', 0)]
    kd = PROTOCOL['students'][1]
    wd = str(tmp_path / 'kd_published')
    again = bench.run_one(kd, 0, wd, 1, demo_scenes, sys.executable,
                          bench.NO_CHECKPOINT, extra=[
                              kd0['extra'][0],
                              f'model.teacher_cache.path={published["path"]}'])
    assert (again['top1'], again['top5']) == (kd0['top1'], kd0['top5'])
    assert "teacher_ckpt=None" in open(osp.join(wd, 'run.log')).read()


def _check_resume_and_skip(finished, demo_scenes, first):
    """A copy of the finished 1-epoch run ``finished`` "interrupted" before
    its result (no result.json) and run for 2 epochs: it resumes from
    epoch 1, trains epoch 2, is tested; called again it is skipped."""
    wd = str(finished.parent / 'alone_s0_resumed')
    shutil.copytree(finished, wd)
    os.remove(osp.join(wd, 'result.json'))
    alone = PROTOCOL['students'][0]
    args = (alone, 0, wd, 2, demo_scenes, sys.executable, None)
    second = bench.run_one(*args, extra=first['extra'])
    assert 'resumed epoch: 1' in open(osp.join(wd, 'run.log')).read()
    assert osp.isfile(osp.join(wd, 'epoch_2.pth'))
    assert second['wall_seconds'] > first['wall_seconds']
    mtime = osp.getmtime(osp.join(wd, 'result.json'))
    assert bench.run_one(*args, extra=first['extra']) == second
    assert osp.getmtime(osp.join(wd, 'result.json')) == mtime


def test_benchmark_reuses_a_trained_teacher_and_checks_inputs(
        tmp_path, demo_scenes):
    with pytest.raises(FileNotFoundError, match='RSSCN7 not found at '
                       '"/no/such/dir"'):
        bench.run_benchmark(PROTOCOL, [0], str(tmp_path), '', '/no/such/dir',
                            sys.executable)
    with pytest.raises(FileNotFoundError, match='--teacher-ckpt "x.pth"'):
        _run(tmp_path, demo_scenes, [0], teacher_ckpt='x.pth')


def test_report_replaces_only_its_own_section(tmp_path):
    path = tmp_path / 'benchmarks.md'
    path.write_text('# Benchmarks\n\n## Throughput\n\nhand-written table\n')
    results = {'teacher': [dict(key='teacher', seed=0, top1=80.0, top5=99.0,
                                wall_seconds=None)]}
    for _ in range(2):
        bench.write_report(PROTOCOL, results, [0], str(path), [])
    text = path.read_text()
    assert text.startswith('# Benchmarks\n\n## Throughput\n\nhand-written')
    assert text.count(bench.START) == text.count(bench.END) == 1
    assert '| teacher ResNet-34 | 1 | 80.00 | 99.00 | - | - | 80.00 | - |' \
        in text
    results['alone'] = [dict(key='alone', seed=0, top1=70.0, top5=98.0,
                             wall_seconds=60.0)]
    bench.write_report(PROTOCOL, results, [0], str(path), [])
    text = path.read_text()
    assert '| student alone | 1 | 70.00 | 98.00 | - | - | 70.00 | 1.0 |' \
        in text
    assert text.count(bench.START) == 1 and 'hand-written table' in text


def test_paired_differences_and_t_quantiles():
    # diffs 1, 2, 3: mean 2, std 1, half-width t(0.975, 2) / sqrt(3)
    h = 4.303 / 3 ** 0.5
    assert bench.paired([1.0, 2.0, 3.0]) == \
        f'+2.00 ± 1.00 [{2 - h:+.2f}, {2 + h:+.2f}]'
    assert bench.paired([-0.5]) == '-0.50' and bench.paired([]) == '-'
    # beyond the table: scipy.stats.t.ppf(0.975, df)
    for df, ref in ((11, 2.200985), (20, 2.085963), (31, 2.039513),
                    (60, 2.000298)):
        assert bench_runs.t975(df) == pytest.approx(ref, abs=1e-3)
    with pytest.raises(ValueError):
        bench_runs.t975(0)


def _fake_run_one(run, seed, work_dir, epochs, data_root, python,
                  teacher_ckpt, trained=None, extra=None):
    """run_one without training (the locking around it is under test):
    the result.json a finished run leaves (kept if there is one, as
    run_one keeps it)."""
    os.makedirs(work_dir, exist_ok=True)
    if osp.isfile(osp.join(work_dir, 'result.json')):
        with open(osp.join(work_dir, 'result.json')) as f:
            return json.load(f)
    result = dict(key=run['key'], seed=seed, config=run['config'],
                  options=run.get('options', []), extra=extra or [],
                  top1=50.0 + seed, top5=90.0, wall_seconds=1.0)
    with open(osp.join(work_dir, 'result.json'), 'w') as f:
        json.dump(result, f)
    return result


def test_copies_sharing_a_work_dir_skip_a_locked_run(tmp_path, demo_scenes,
                                                     monkeypatch):
    """A run locked by another copy is skipped (not trained twice); the
    report holds whatever any copy finished."""
    import fcntl
    monkeypatch.setattr(bench, 'run_one', _fake_run_one)
    runs = tmp_path / 'runs'
    runs.mkdir()
    with open(runs / '.kd_s0.lock', 'w') as other:  # "another copy" has kd
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
        results = _run(tmp_path, demo_scenes, [0])
        assert sorted(results) == ['alone', 'teacher']
        assert not (runs / 'kd_s0').exists()
        with bench.run_lock(str(runs), 'kd_s0', wait=False) as mine:
            assert not mine
    results = _run(tmp_path, demo_scenes, [0])  # released: now it runs
    assert sorted(results) == ['alone', 'kd', 'teacher']
    # a second set of seeds from another copy lands in the same report
    (runs / 'kd_s7').mkdir()
    (runs / 'kd_s7' / 'result.json').write_text(json.dumps(dict(
        results['kd'][0], seed=7)))
    results = bench.collect(PROTOCOL, str(runs))
    assert [r['seed'] for r in results['kd']] == [0, 7]
    assert bench.finished_seeds(results) == [0, 7]
    assert bench.reproduce_args(['--seeds', '3', '--methods', 'kd', 'alone',
                                 '--teacher-ckpt', 't.pth'], [0, 7]) == \
        ['--seeds', '0', '7', '--teacher-ckpt', 't.pth']


def _teacher_files(tmp_path):
    """t1.pth and t2.pth: the same weights with other metadata; t3.pth:
    one weight off by 1e-6. Returns their weight fingerprints."""
    import torch

    from tools.analysis import bench_archive as archived
    weights = dict(w=torch.arange(4.), b=torch.zeros(2, dtype=torch.int64))
    for name, meta in (('t1.pth', 'first'), ('t2.pth', 'second')):
        torch.save(dict(state_dict=weights, meta=dict(time=meta)),
                   tmp_path / name)
    torch.save(dict(state_dict=dict(weights, w=torch.arange(4.) + 1e-6)),
               tmp_path / 't3.pth')
    return [archived.weights_fingerprint(str(tmp_path / n))
            for n in ('t1.pth', 't2.pth', 't3.pth')]


def test_archive_restores_runs_of_the_same_teacher_weights_only(
        tmp_path, demo_scenes, monkeypatch):
    """--archive: a new work dir with a teacher of the same weights (another
    file: other metadata) trains only the missing seeds; a teacher with
    other weights restores nothing."""
    from tools.analysis import bench_archive as archived
    calls = []

    def counting_run_one(run, seed, work_dir, *a, **k):
        if not osp.isfile(osp.join(work_dir, 'result.json')):
            calls.append((run['key'], seed))
        return _fake_run_one(run, seed, work_dir, *a, **k)

    monkeypatch.setattr(bench, 'run_one', counting_run_one)
    archive = str(tmp_path / 'archive.json')
    fp = _teacher_files(tmp_path)
    assert fp[0] == fp[1] != fp[2]

    _run(tmp_path / 'a', demo_scenes, [0, 1],
         teacher_ckpt=str(tmp_path / 't1.pth'), archive=archive)
    entries = archived.load(archive)
    assert sorted((e['key'], e['seed']) for e in entries) == \
        [('alone', 0), ('alone', 1), ('kd', 0), ('kd', 1)]
    assert {e['teacher_sha256'] for e in entries} == {fp[0]}

    calls.clear()
    results = _run(tmp_path / 'b', demo_scenes, [0, 1, 2],
                   teacher_ckpt=str(tmp_path / 't2.pth'), archive=archive)
    assert calls == [('teacher', 0), ('alone', 2), ('kd', 2)]
    assert sorted(r['seed'] for r in results['kd']) == [0, 1, 2]
    restored = json.loads(
        (tmp_path / 'b' / 'runs' / 'kd_s1' / 'result.json').read_text())
    assert restored['restored_from'] == archive
    assert restored['top1'] == 51.0

    # other teacher weights: only the student alone (no teacher) restores,
    # and the archive does not record it a second time
    calls.clear()
    _run(tmp_path / 'c', demo_scenes, [0],
         teacher_ckpt=str(tmp_path / 't3.pth'), archive=archive)
    assert calls == [('teacher', 0), ('kd', 0)]
    assert len(archived.load(archive)) == 6 + 1
    assert [e['key'] for e in archived.load(archive)
            if e['teacher_sha256'] == fp[2]] == ['kd']

    # another experiment (other options) of the same teacher: not restored
    want = dict(key='kd', seed=0, config=PROTOCOL['students'][1]['config'],
                options=['model.distill_losses.loss_kd.temperature=8.0'],
                extra=[])
    assert archived.restore(archive, fp[0], str(tmp_path / 'd'), 1,
                            {'kd_s0': want}) == []
    assert archived.restore(archive, fp[0], str(tmp_path / 'd'), 1, {
        'kd_s0': dict(want, options=PROTOCOL['students'][1]['options'])
    }) == ['kd_s0']
    (tmp_path / 'bad.json').write_text('[]')
    with pytest.raises(ValueError, match='bad.json: not a run archive'):
        archived.load(str(tmp_path / 'bad.json'))


def test_archive_restores_only_runs_of_the_same_numerics(tmp_path, capsys):
    """The same seed on another CPU kind or torch gives other weights: an
    entry restores only where its recorded numerics are this machine's
    (fields it lacks are not compared; no record at all never restores);
    adding a run keeps the same experiment's entry of another machine."""
    from tools.analysis import bench_archive as archived
    here = bench_runs.numerics()
    assert set(here) == {'cpu', 'capability', 'torch'} and all(here.values())
    other = dict(here, capability='ANOTHER_ISA')
    assert archived.same_numerics(dict(numerics=here), here)
    assert archived.same_numerics(
        dict(numerics=dict(cpu=here['cpu'], torch=here['torch'])), here)
    assert not archived.same_numerics(dict(numerics=other), here)
    assert not archived.same_numerics(
        dict(numerics=dict(here, torch='0.0')), here)
    assert not archived.same_numerics({}, here)

    archive = str(tmp_path / 'archive.json')
    run = dict(key='alone', seed=0, config='c.py', options=[], extra=[],
               top1=80.0, top5=99.0, wall_seconds=1.0)
    archived.add(archive, run, 'fp', 30)
    assert archived.load(archive)[0]['numerics'] == here
    want = {'alone_s0': dict(run)}
    assert archived.restore(archive, 'fp', str(tmp_path / 'w1'), 30, want,
                            here=other) == []
    assert 'not restored, recorded on another machine kind' in \
        capsys.readouterr().out
    assert archived.restore(archive, 'other fp', str(tmp_path / 'w1'), 30,
                            want, ['alone_s0'], here=other) == []
    restored = archived.restore(archive, 'fp', str(tmp_path / 'w2'), 30,
                                want)
    assert restored == ['alone_s0']
    result = json.loads(
        (tmp_path / 'w2' / 'alone_s0' / 'result.json').read_text())
    assert result['top1'] == 80.0 and 'numerics' not in result

    # recorded elsewhere with another result: both entries are kept
    with open(archive) as f:
        data = json.load(f)
    data['runs'][0].update(numerics=other, top1=81.0)
    with open(archive, 'w') as f:
        json.dump(data, f)
    archived.add(archive, run, 'fp', 30)
    assert sorted(e['top1'] for e in archived.load(archive)) == [80.0, 81.0]
    archived.add(archive, dict(run, top1=79.0), 'fp', 30)  # replaces here's
    assert sorted(e['top1'] for e in archived.load(archive)) == [79.0, 81.0]


def test_committed_archives_record_their_numerics():
    """Every entry of the committed archives says on which machine kind
    and torch it was made (otherwise it could never be restored)."""
    from tools.analysis import bench_archive as archived
    for path in glob.glob(osp.join(ROOT, 'docs', 'bench', '*_runs.json')):
        entries = archived.load(path)
        assert entries, path
        for entry in entries:
            assert entry['numerics'].get('cpu') and \
                entry['numerics'].get('torch'), (path, entry)


def test_feature_methods_read_the_feature_cache(tmp_path, monkeypatch):
    """--teacher-cache: the feature methods get a second cache holding the
    protocol's feature_sources (built only when such a method runs); the
    logit methods keep the logits cache, the student alone neither."""
    calls = []

    def fake_run(cmd, **kwargs):
        calls.append(cmd)
        return type('Done', (), {'returncode': 0})()

    monkeypatch.setattr(bench.subprocess, 'run', fake_run)
    protocol = bench.PROTOCOL
    runs = {r['key']: r for r in protocol['students']}
    assert {k for k, r in runs.items() if r.get('cache') == 'features'} == \
        {'fitnet', 'at', 'rkd', 'crd', 'reviewkd', 'sdd', 'at_w250'}
    wd = str(tmp_path)
    logits_only = bench._with_caches(protocol, [(0, runs['kd'])], wd,
                                     'data', 'python', 't.pth', 0)
    assert len(calls) == 1 and '--sources' not in calls[0]
    assert sorted(logits_only['caches']) == ['logits']
    both = bench._with_caches(protocol, [(0, runs['kd']), (0, runs['at'])],
                              wd, 'data', 'python', 't.pth', 0)
    feature_cmd = calls[-1]
    assert feature_cmd[feature_cmd.index('--out') + 1] == \
        osp.join(wd, 'teacher_cache_features')
    assert feature_cmd[feature_cmd.index('--dtype') + 1] == 'fp32'
    assert calls[0][calls[0].index('--dtype') + 1] == 'fp16'
    start = feature_cmd.index('--sources') + 1
    assert feature_cmd[start:start + 6] == list(protocol['feature_sources'])
    seed = 'train_dataloader.sampler.augment_seed=0'
    assert bench._extra(both, runs['at']) == [
        seed, f'model.teacher_cache.path={wd}/teacher_cache_features']
    assert bench._extra(both, runs['kd']) == [
        seed, f'model.teacher_cache.path={wd}/teacher_cache']
    assert bench._extra(both, runs['alone']) == [seed]
    assert bench._extra(both, runs['mlkd-strong']) == [seed]
    # every feature config reads only what the feature cache holds
    from mmengine.config import Config

    from mmrskd.apis.cache_teacher import read_sources
    held = set(protocol['feature_sources'])
    for key in ('fitnet', 'at', 'rkd', 'crd', 'reviewkd', 'sdd'):
        modules, classifier = read_sources(
            Config.fromfile(osp.join(ROOT, runs[key]['config'])))
        assert modules and set(modules) <= held, key
        assert classifier == (key == 'sdd')


def test_protocol_options_name_existing_settings_and_build():
    """Every ``--cfg-options`` of the RSSCN7 protocol's runs sets a
    setting of a part its config has (mmengine would silently add a
    misspelt key): the parent exists, and the losses build with the value
    (a misspelt argument name fails there)."""
    import argparse

    from mmengine.config import Config, DictAction
    from mmpretrain.registry import MODELS

    import mmrskd  # noqa: F401
    parser = argparse.ArgumentParser()
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    runs = [r for r in bench.PROTOCOL['students'] if r.get('options')]
    assert {'kd_ls', 'dkd_ls', 'mlkd_w025', 'mlkd_ls', 'at_w250'} <= \
        {r['key'] for r in runs}
    for run in runs:
        cfg = Config.fromfile(osp.join(ROOT, run['config']))
        options = parser.parse_args(['--cfg-options',
                                     *run['options']]).cfg_options
        for key in options:
            node = cfg
            for part in key.split('.')[:-1]:
                assert part in node, (run['key'], key)
                node = node[part]
        cfg.merge_from_dict(options)
        with MODELS.switch_scope_and_registry('mmpretrain') as registry:
            for name, loss_cfg in cfg.model.distill_losses.items():
                loss_cfg = dict(loss_cfg)  # the distiller takes 'inputs'
                loss_cfg.pop('inputs', None)
                loss = registry.build(loss_cfg)
                for key, value in options.items():
                    prefix = f'model.distill_losses.{name}.'
                    if key.startswith(prefix):
                        got = getattr(loss, key[len(prefix):])
                        assert got == value, (run['key'], key, got)


def _synthetic_cache(path, seed=0):
    """A complete logits-only teacher cache of 2 epochs x 3 samples x 4
    classes (the layout tools/cache_teacher.py writes)."""
    from mmrskd.models.distillers import teacher_cache as tc
    manifest = dict(version=tc.VERSION, epochs=2, num_samples=3,
                    num_classes=4, dtype='fp16', seed=seed, replay_key='k',
                    hashes={}, sources={}, classifier=False)
    os.makedirs(path)
    logits, done = tc.open_arrays(str(path), manifest, 'w+')
    logits[:] = 0.5
    done[:] = True
    logits.flush()
    done.flush()
    tc.write_manifest(str(path), manifest)
    return str(path)


def _archive_elsewhere(archive, extra, shared, monkeypatch):
    """Archive runs of teacher 'fpA' recorded on another machine kind
    (returned): seed 0 alone and KD with the published logits' hash, KD
    seed 1 with other logits, KD seed 2 without a hash."""
    from tools.analysis import bench_archive as archived
    other = dict(bench_runs.numerics(), cpu='Another CPU')
    kd, alone = PROTOCOL['students'][1], PROTOCOL['students'][0]
    with monkeypatch.context() as patch:
        patch.setattr(archived, 'numerics', lambda: other)
        for run, seed, run_extra, fields in (
                (alone, 0, extra[:1], {}),
                (kd, 0, extra, dict(cache_sha256=shared['logits_sha256'])),
                (kd, 1, extra, dict(cache_sha256='other logits')),
                (kd, 2, extra, {})):
            archived.add(archive, dict(
                key=run['key'], seed=seed, config=run['config'],
                options=run.get('options', []), extra=run_extra,
                top1=60.0 + seed, top5=99.0, wall_seconds=1.0, **fields),
                'fpA', 1)
    return other


def test_published_logits_replace_the_teacher_on_any_machine_kind(
        tmp_path, demo_scenes, monkeypatch):
    """A call through the published logits trains no teacher; it restores
    the archived runs that read those logits and the students alone from
    any machine kind (not a run that read other logits, nor one recorded
    without the logits' hash on another kind than theirs); its distillers
    get no teacher checkpoint and the published cache."""
    from tools.analysis import bench_archive as archived
    from tools.analysis import bench_cache
    from mmrskd.models.distillers.teacher_cache import TeacherCacheError
    teacher = dict(key='teacher', seed=0, config='t.py', top1=90.0,
                   top5=99.0, wall_seconds=5.0)
    dest = str(tmp_path / 'published')
    shared = bench_cache.publish(_synthetic_cache(tmp_path / 'c'), dest,
                                 teacher, 'fpA')
    assert shared['teacher'] == teacher and shared['augment_seed'] == 0
    archive = str(tmp_path / 'archive.json')
    extra = ['train_dataloader.sampler.augment_seed=0',
             f'model.teacher_cache.path={dest}']
    other = _archive_elsewhere(archive, extra, shared, monkeypatch)
    kd = PROTOCOL['students'][1]
    calls = []

    def fake(run, seed, work_dir, *a, **k):
        if not osp.isfile(osp.join(work_dir, 'result.json')):
            calls.append((run['key'], seed, a[3], k.get('extra')))
        return _fake_run_one(run, seed, work_dir, *a, **k)

    monkeypatch.setattr(bench, 'run_one', fake)
    results = _run(tmp_path, demo_scenes, [0, 1, 2], augment_seed=0,
                   archive=archive, published=dest)
    assert [c[:2] for c in calls] == [('alone', 1), ('kd', 1), ('alone', 2),
                                      ('kd', 2)]
    assert calls[1][2:] == (bench.NO_CHECKPOINT, extra)
    assert results['teacher'][0]['top1'] == 90.0
    assert results['kd'][0]['recorded_on'] == other
    new = [e for e in archived.load(archive) if e['seed'] == 1 and
           e['numerics'] == bench_runs.numerics()]
    assert {e['key']: e.get('cache_sha256') for e in new} == {
        'alone': None, 'kd': shared['logits_sha256']}
    assert 'several machine kinds' in (tmp_path / 'bench.md').read_text()

    # the teacher trains where a job needs more than its logits, or the
    # cache is of another augmentation seed; a damaged one is refused
    online = dict(kd, key='kd_online', online_teacher=True)
    assert bench._usable_cache(dest, 0, None, [(0, kd)])
    assert not bench._usable_cache(dest, 0, None, [(0, kd), (0, online)])
    assert not bench._usable_cache(dest, 5, None, [(0, kd)])
    assert not bench._usable_cache(dest, 0, 't.pth', [(0, kd)])
    with open(osp.join(dest, 'logits.npy'), 'ab') as f:
        f.write(b'x')
    with pytest.raises(TeacherCacheError, match='not the one teacher.json'):
        bench_cache.load(dest)
