"""The teacher-output cache is exact: a cached KD run has the online run's
loss at every iteration and its weights after the epoch, per epoch or per
variant of a finite augmentation group, through --resume, and so has a run
of feature losses whose teacher features come from the cache; a cache that
does not fit the run is refused."""
import importlib.util
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.registry import init_default_scope
from mmengine.runner import Runner
from mmpretrain.registry import MODELS

import mmrskd  # noqa: F401
from mmrskd.models.distillers.teacher_cache import TeacherCacheError

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def _tool():
    spec = importlib.util.spec_from_file_location(
        'cache_teacher_tool', osp.join(ROOT, 'tools', 'cache_teacher.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='module')
def teacher_ckpt(tmp_path_factory):
    init_default_scope('mmpretrain')
    torch.manual_seed(0)
    cfg = Config.fromfile(osp.join(ROOT, 'configs/demo/resnet34_demo.py'))
    path = tmp_path_factory.mktemp('teacher') / 'teacher.pth'
    torch.save({'state_dict': MODELS.build(cfg.model).state_dict()}, path)
    return str(path)


def _cfg_file(tmp_path, demo_scenes, teacher_ckpt, config='kd_r34_r18_demo',
              **extra):
    """The demo config on the generated scenes, 1 epoch, no validation,
    written to a file (as a user's config would be)."""
    init_default_scope('mmpretrain')
    cfg = Config.fromfile(osp.join(ROOT, 'configs', 'demo', f'{config}.py'))
    for split in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[split].dataset.data_root = demo_scenes
        cfg[split].num_workers = 0
    cfg.train_dataloader.batch_size = 8
    cfg.merge_from_dict({'train_cfg.max_epochs': 1, 'param_scheduler.T_max': 1,
                         'model.teacher_ckpt': teacher_ckpt,
                         'default_hooks.logger.interval': 1, **extra})
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    path = tmp_path / f'{config}.py'
    cfg.dump(str(path))
    return str(path)


class _Losses(Hook):
    def __init__(self):
        self.values = []

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        self.values.append({k: v.item() for k, v in outputs.items()})


def _train(cfg_file, work_dir, teacher_dtype=None, **options):
    """Train ``cfg_file``; ``teacher_dtype`` rounds the online teacher's
    logits to that dtype (and back), as a cache stored in it does."""
    cfg = Config.fromfile(cfg_file)
    cfg.merge_from_dict(options)
    cfg.work_dir = str(work_dir)
    runner = Runner.from_cfg(cfg)
    if teacher_dtype is not None:
        runner.model.teacher.model.head.fc.register_forward_hook(
            lambda m, i, out: out.to(teacher_dtype).float())
    spy = _Losses()
    runner.register_hook(spy, priority='LOWEST')
    runner.train()
    return spy.values, runner.model.state_dict()


# Both storages are exact: an fp32 cache gives the online run bit for bit,
# an fp16 cache gives bit for bit the online run whose teacher logits are
# rounded to fp16 (a fixed tolerance against the unrounded run was flaky:
# the untrained teacher's KL is about 0.004, so where the rounding falls
# decides the last digits).
@pytest.mark.parametrize('dtype', ['fp32', 'fp16'])
def test_cached_run_matches_the_online_run(demo_scenes, teacher_ckpt,
                                           tmp_path, dtype):
    cfg = _cfg_file(tmp_path, demo_scenes, teacher_ckpt)
    cache = tmp_path / 'cache'
    manifest = _tool().main([cfg, '--out', str(cache), '--dtype', dtype,
                             '--num-workers', '0', '--variants', 'off'])
    assert manifest['epochs'] == 1 and manifest['dtype'] == dtype
    assert 'variants' not in manifest
    online, w_online = _train(
        cfg, tmp_path / 'online',
        teacher_dtype=torch.float16 if dtype == 'fp16' else None)
    cached, w_cached = _train(cfg, tmp_path / 'cached', **{
        'model.teacher_cache': dict(path=str(cache))})
    _assert_same_run(online, w_online, cached, w_cached, 0.0, dtype)


def _assert_same_run(online, w_online, cached, w_cached, rtol, what):
    assert len(online) == len(cached) > 1
    for a, b in zip(online, cached):
        assert a.keys() == b.keys()
        for k in a:
            assert b[k] == pytest.approx(a[k], rel=rtol, abs=0), (k, a, b)
    # relative difference of all weights together (tensors near 0, e.g.
    # BN biases after one epoch, make per-tensor ratios meaningless)
    diff = sum(((v.float() - w_cached[k].float())**2).sum()
               for k, v in w_online.items() if v.is_floating_point())
    norm = sum((v.float()**2).sum() for v in w_online.values()
               if v.is_floating_point())
    worst = (diff / norm).sqrt().item()
    print(f'{what}: relative weight difference after training '
          f'{worst:.2e}; loss_kd online/cached '
          f'{[(a["loss_kd"], b["loss_kd"]) for a, b in zip(online, cached)]}')
    assert worst <= rtol


def test_mismatched_cache_is_refused(demo_scenes, teacher_ckpt, tmp_path):
    cfg = _cfg_file(tmp_path, demo_scenes, teacher_ckpt)
    cache = str(tmp_path / 'cache')
    _tool().main([cfg, '--out', cache, '--epochs', '1', '--num-workers',
                  '0', '--variants', 'off'])
    init_default_scope('mmpretrain')
    # another teacher checkpoint
    other = tmp_path / 'other.pth'
    state = torch.load(teacher_ckpt, weights_only=True)
    state['state_dict']['head.fc.bias'] += 1
    torch.save(state, other)
    with pytest.raises(TeacherCacheError, match='built from another '
                       'teacher_ckpt than this run'):
        _train(cfg, tmp_path / 'w1', **{
            'model.teacher_cache': dict(path=cache),
            'model.teacher_ckpt': str(other)})
    # another augmentation seed
    with pytest.raises(TeacherCacheError, match='other augmentation seed'):
        _train(cfg, tmp_path / 'w2', **{
            'model.teacher_cache': dict(path=cache), 'randomness.seed': 1})
    # more epochs than cached, unless wrap
    with pytest.raises(TeacherCacheError, match='Epoch 2 is past the 1 '
                       'epochs'):
        _train(cfg, tmp_path / 'w3', **{
            'model.teacher_cache': dict(path=cache),
            'train_cfg.max_epochs': 2})
    _train(cfg, tmp_path / 'w4', **{
        'model.teacher_cache': dict(path=cache, wrap=True),
        'train_cfg.max_epochs': 2})
    # a feature the logits-only cache does not hold
    with pytest.raises(ValueError, match=r"teacher's \['teacher.head.fc'\], "
                       'which teacher_cache .* does not hold \\(it holds its '
                       'logits only\\)'):
        _train(cfg, tmp_path / 'w5', **{
            'model.teacher_cache': dict(path=cache),
            'model.distill_losses.loss_f': dict(
                type='KDLoss', inputs=['student.head.fc',
                                       'teacher.head.fc', 'labels'])})
    # nor the teacher's classifier
    with pytest.raises(ValueError, match=r"\['teacher.classifier'\], which"):
        _train(cfg, tmp_path / 'w6', **{
            'model.teacher_cache': dict(path=cache),
            'model.distill_losses.loss_f': dict(
                type='KDLoss', inputs=['student.logits',
                                       'teacher.classifier', 'labels'])})


def test_killed_build_resumes_and_incomplete_cache_is_refused(
        demo_scenes, teacher_ckpt, tmp_path):
    cfg = _cfg_file(tmp_path, demo_scenes, teacher_ckpt)
    cache = tmp_path / 'cache'
    tool = _tool()
    full = tool.main([cfg, '--out', str(cache), '--epochs', '2',
                      '--num-workers', '0', '--dtype', 'fp32',
                      '--variants', 'off'])
    logits = np.load(cache / 'logits.npy').copy()
    done = np.load(cache / 'done.npy', mmap_mode='r+')
    done[1, ::2] = False  # as if killed during epoch 2
    done.flush()
    del done
    with pytest.raises(TeacherCacheError, match='is incomplete'):
        _train(cfg, tmp_path / 'w', **{
            'model.teacher_cache': dict(path=str(cache))})
    again = tool.main([cfg, '--out', str(cache), '--epochs', '2',
                       '--num-workers', '0', '--dtype', 'fp32',
                      '--variants', 'off'])
    assert again == full
    assert np.load(cache / 'done.npy').all()
    assert np.allclose(np.load(cache / 'logits.npy'), logits, atol=1e-5)
    with pytest.raises(TeacherCacheError, match='holds a teacher cache of '
                       'another run'):
        tool.main([cfg, '--out', str(cache), '--epochs', '3',
                   '--num-workers', '0', '--dtype', 'fp32',
                      '--variants', 'off'])


def test_variant_cache_serves_any_seed_and_any_number_of_epochs(
        demo_scenes, teacher_ckpt, tmp_path):
    """The demo pipeline's randomness is a flip (3 variants): each variant
    is stored once, and a run of another seed and more epochs than the
    config's reads it exactly (fp32 storage: bit-exact)."""
    cfg = _cfg_file(tmp_path, demo_scenes, teacher_ckpt)
    cache = tmp_path / 'cache'
    manifest = _tool().main([cfg, '--out', str(cache), '--dtype', 'fp32',
                             '--num-workers', '0'])
    assert manifest['variants'] == ['flip=none', 'flip=horizontal',
                                    'flip=vertical']
    assert manifest['epochs'] is None and manifest['seed'] is None
    assert np.load(cache / 'logits.npy').shape[0] == 3
    run = {'randomness.seed': 5, 'train_cfg.max_epochs': 3}
    online, w_online = _train(cfg, tmp_path / 'online', **run)
    cached, w_cached = _train(cfg, tmp_path / 'cached', **run, **{
        'model.teacher_cache': dict(path=str(cache))})
    _assert_same_run(online, w_online, cached, w_cached, 0.0, 'variants')
    # another pipeline (a variant the cache does not hold) is refused
    with pytest.raises(TeacherCacheError, match='other training data'):
        _train(cfg, tmp_path / 'w', **{
            'model.teacher_cache': dict(path=str(cache)),
            'train_dataloader.dataset.pipeline': [
                dict(type='LoadImageFromFile'),
                dict(type='RandomFlip', prob=0.5, direction='diagonal'),
                dict(type='PackInputs')]})


def test_cached_run_resumes_bit_identically(demo_scenes, teacher_ckpt,
                                            tmp_path):
    """Killed mid-epoch and resumed (the shipped loaders: 2 persistent
    workers), a cached run ends with the weights of the uninterrupted
    cached run."""
    from tests.test_reliability import (_cfg, _Interrupt,
                                        _KillInSecondEpoch, _shipped_loaders,
                                        _state)
    cache = tmp_path / 'cache'
    _tool().main([_cfg_file(tmp_path, demo_scenes, teacher_ckpt), '--out',
                  str(cache), '--num-workers', '0'])

    def cfg(work):
        return _shipped_loaders(_cfg(
            'demo/kd_r34_r18_demo.py', demo_scenes, work, 2, teacher_ckpt,
            **{'model.teacher_cache': dict(path=str(cache))}))

    Runner.from_cfg(cfg(tmp_path / 'full')).train()
    runner = Runner.from_cfg(cfg(tmp_path / 'part'))
    runner.register_hook(_KillInSecondEpoch(), priority='LOWEST')
    with pytest.raises(_Interrupt):
        runner.train()
    resumed = cfg(tmp_path / 'part')
    resumed.resume = True
    Runner.from_cfg(resumed).train()
    a = _state(tmp_path / 'full' / 'epoch_2.pth')['state_dict']
    b = _state(tmp_path / 'part' / 'epoch_2.pth')['state_dict']
    assert a.keys() == b.keys() and not any('teacher' in k for k in a)
    assert all(torch.equal(a[k], b[k]) for k in a)


# feature losses of every kind of source: a tuple of module outputs (AT), a
# module returning a tuple (the neck, RKD), the teacher's classifier (SDD),
# a learned connector (FitNet)
FEATURE_LOSSES = {
    'model.distill_losses.loss_at': dict(
        type='ATLoss', inputs=[
            [f'student.backbone.layer{i}' for i in range(1, 5)],
            [f'teacher.backbone.layer{i}' for i in range(1, 5)]]),
    'model.distill_losses.loss_rkd': dict(
        type='RKDLoss', inputs=['student.neck', 'teacher.neck']),
    'model.distill_losses.loss_sdd': dict(
        type='SDDLoss', inputs=['student.backbone.layer4',
                                'teacher.backbone.layer4', 'labels',
                                'student.classifier', 'teacher.classifier']),
    'model.distill_losses.loss_fitnet': dict(
        type='FitNetLoss', student_channels=16, teacher_channels=128,
        inputs=['student.backbone.layer2', 'teacher.backbone.layer2']),
}


def test_cached_feature_run_matches_the_online_run(demo_scenes,
                                                   teacher_ckpt, tmp_path):
    """An fp32 cache of the features the losses read gives the online run
    bit for bit: every loss at every iteration, the weights after it."""
    cfg = _cfg_file(tmp_path, demo_scenes, teacher_ckpt, **FEATURE_LOSSES)
    cache = tmp_path / 'cache'
    manifest = _tool().main([cfg, '--out', str(cache), '--dtype', 'fp32',
                             '--num-workers', '0', '--variants', 'off'])
    assert manifest['sources'] == {
        'backbone.layer1': dict(shapes=[[64, 8, 8]], tuple=False),
        'backbone.layer2': dict(shapes=[[128, 4, 4]], tuple=False),
        'backbone.layer3': dict(shapes=[[256, 2, 2]], tuple=False),
        'backbone.layer4': dict(shapes=[[512, 1, 1]], tuple=False),
        'neck': dict(shapes=[[512]], tuple=True)}
    assert manifest['classifier'] is True
    assert osp.isfile(cache / 'sources' / 'neck.0.npy')
    online, w_online = _train(cfg, tmp_path / 'online')
    cached, w_cached = _train(cfg, tmp_path / 'cached', **{
        'model.teacher_cache': dict(path=str(cache))})
    assert {'loss_at', 'loss_rkd', 'loss_sdd', 'loss_fitnet'} <= \
        set(online[0])
    assert all(v > 0 for k, v in online[-1].items() if k.startswith('loss'))
    _assert_same_run(online, w_online, cached, w_cached, 0.0, 'features')


def test_sources_option_and_missing_features(demo_scenes, teacher_ckpt,
                                             tmp_path):
    """--sources adds teacher modules to a logit config's cache (one cache
    for several configs); a run reading a module the cache lacks is refused
    and told what the cache holds."""
    kd = _cfg_file(tmp_path, demo_scenes, teacher_ckpt)
    cache = str(tmp_path / 'cache')
    manifest = _tool().main([kd, '--out', cache, '--num-workers', '0',
                             '--variants', 'off', '--sources',
                             'backbone.layer4', 'teacher.neck',
                             'classifier'])
    assert sorted(manifest['sources']) == ['backbone.layer4', 'neck']
    assert manifest['classifier'] is True
    init_default_scope('mmpretrain')
    feature = {k: FEATURE_LOSSES[k] for k in (
        'model.distill_losses.loss_rkd', 'model.distill_losses.loss_sdd')}
    _train(kd, tmp_path / 'w1', **{'model.teacher_cache': dict(path=cache),
                                  **feature})
    with pytest.raises(ValueError, match=r"\['teacher.backbone.layer2'\], "
                       r"which .* \(it holds \['teacher.backbone.layer4', "
                       r"'teacher.neck'\]\)"):
        _train(kd, tmp_path / 'w2', **{
            'model.teacher_cache': dict(path=cache),
            'model.distill_losses.loss_fitnet':
                FEATURE_LOSSES['model.distill_losses.loss_fitnet']})


def test_version_2_cache_is_resumed_and_read(demo_scenes, teacher_ckpt,
                                             tmp_path):
    """A cache written before teacher features (format version 2: no
    'sources' / 'classifier' in its manifest) is the same logits cache: the
    builder resumes it instead of refusing it, and a KD run reads it."""
    import json
    cfg = _cfg_file(tmp_path, demo_scenes, teacher_ckpt)
    cache = tmp_path / 'cache'
    args = [cfg, '--out', str(cache), '--num-workers', '0', '--variants',
            'off']
    _tool().main(args)
    manifest = json.loads((cache / 'manifest.json').read_text())
    assert manifest['version'] == 3 and manifest['sources'] == {}
    for key in ('sources', 'classifier'):
        del manifest[key]
    (cache / 'manifest.json').write_text(json.dumps(dict(manifest,
                                                         version=2)))
    _tool().main(args)
    init_default_scope('mmpretrain')
    _train(cfg, tmp_path / 'w', **{'model.teacher_cache': dict(
        path=str(cache))})
    # a cache with other features is another cache
    with pytest.raises(TeacherCacheError, match=r"differs in \['sources'\]"):
        _tool().main(args + ['--sources', 'neck'])
