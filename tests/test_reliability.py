"""Reliability: NaN guard, exact resume, resuming another config's
checkpoint, multi-process (gloo) training."""
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.logging import MessageHub
from mmengine.registry import init_default_scope
from mmengine.runner import Runner
from mmpretrain.registry import MODELS

from mmrskd.apis import cli
from mmrskd.engine.hooks import NonFiniteLossError

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


@MODELS.register_module(force=True)
class _NaNAtIterLoss(nn.Module):
    """0 (with a graph), except NaN at iteration ``at`` (0-based)."""

    def __init__(self, at=2):
        super().__init__()
        self.at = at

    def forward(self, zs, zt, labels):
        it = MessageHub.get_current_instance().get_info('iter', 0)
        out = zs.sum() * 0
        return out + float('nan') if it == self.at else out


def _cfg(config, data_root, work_dir, epochs, teacher=None, **extra):
    init_default_scope('mmpretrain')
    cfg = Config.fromfile(osp.join(ROOT, 'configs', config))
    for split in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[split].dataset.data_root = data_root
        cfg[split].num_workers = 0
        cfg[split].persistent_workers = False
    cfg.train_dataloader.batch_size = 8
    cfg.train_cfg.max_epochs = epochs
    cfg.train_cfg.val_interval = 100
    cfg.param_scheduler.T_max = 2
    cfg.work_dir = str(work_dir)
    cfg.default_hooks.logger.interval = 1
    cfg.default_hooks.checkpoint.save_best = None
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    if teacher is not None:
        cfg.model.teacher_ckpt = teacher
    cfg.merge_from_dict(extra)
    return cfg


@pytest.fixture(scope='module')
def teacher_ckpt(tmp_path_factory):
    init_default_scope('mmpretrain')
    cfg = Config.fromfile(osp.join(ROOT, 'configs/demo/resnet34_demo.py'))
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp('t') / 'teacher.pth'
    torch.save({'state_dict': MODELS.build(cfg.model).state_dict()}, path)
    return str(path)


def _nan_cfg(demo_scenes, tmp_path, teacher_ckpt, action):
    cfg = _cfg('demo/kd_r34_r18_demo.py', demo_scenes, tmp_path, 2,
               teacher_ckpt)
    cfg.model.distill_losses.loss_boom = dict(type='_NaNAtIterLoss', at=6)
    cfg.default_hooks.nan_guard.action = action
    return cfg


def test_nan_guard_stops_naming_loss_iteration_and_checkpoint(
        demo_scenes, tmp_path, teacher_ckpt):
    runner = Runner.from_cfg(_nan_cfg(demo_scenes, tmp_path, teacher_ckpt,
                                      'stop'))
    with pytest.raises(NonFiniteLossError) as err:
        runner.train()
    msg = str(err.value)
    # 36 training images / batch 8 = 5 iterations per epoch
    assert 'Non-finite loss "loss_boom" = nan at iteration 7 (epoch 2)' \
        in msg
    assert f'Last good checkpoint: {tmp_path}/epoch_1.pth' in msg


def test_nan_guard_skip_leaves_weights_untouched(demo_scenes, tmp_path,
                                                 teacher_ckpt):
    cfg = _nan_cfg(demo_scenes, tmp_path, teacher_ckpt, 'skip')
    runner = Runner.from_cfg(cfg)
    snapshots = {}

    class Spy(Hook):

        def before_train_iter(self, runner, batch_idx, data_batch=None):
            # parameters only: BatchNorm running statistics follow every
            # forward pass, including the skipped one
            snapshots[runner.iter] = {
                k: v.detach().clone()
                for k, v in runner.model.named_parameters()}

    runner.register_hook(Spy(), priority='LOWEST')
    runner.train()
    before, after = snapshots[6], snapshots[7]
    assert all(torch.equal(before[k], after[k]) for k in before)
    changed = snapshots[5]
    assert not all(torch.equal(changed[k], before[k]) for k in before)


def _state(path):
    return torch.load(path, weights_only=True)


class _Interrupt(Exception):
    pass


class _KillInSecondEpoch(Hook):
    """Interrupt the run in the middle of epoch 2 (after its 2nd iteration),
    as a killed job would be: the last checkpoint is epoch_1.pth."""

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        if runner.epoch == 1 and batch_idx == 1:
            raise _Interrupt


def _shipped_loaders(cfg):
    """The dataloaders as tools/train.py runs the shipped config: its
    workers (2), persistent workers on."""
    shipped = Config.fromfile(
        osp.join(ROOT, 'configs/demo/isdm_r34_r18_demo.py'))
    for split in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        if cfg.get(split) is not None:
            cfg[split].num_workers = shipped[split].num_workers
            cfg[split].pop('persistent_workers', None)
    cli.set_dataloader_defaults(cfg, ('train_dataloader', ))
    assert cfg.train_dataloader.persistent_workers
    assert cfg.train_dataloader.num_workers == 2
    assert cfg.train_dataloader.sampler.type == 'ReplaySampler'
    return cfg


def test_exact_resume_matches_uninterrupted_run(demo_scenes, tmp_path,
                                                teacher_ckpt):
    """Killed mid-epoch and resumed from the last epoch checkpoint, with the
    shipped loaders (2 persistent workers), training ends with bit-identical
    weights, optimizer state and ISDM scaler."""
    def cfg(work):
        return _shipped_loaders(_cfg('demo/isdm_r34_r18_demo.py',
                                     demo_scenes, work, 2, teacher_ckpt))

    full = tmp_path / 'full'
    Runner.from_cfg(cfg(full)).train()
    part = tmp_path / 'part'
    runner = Runner.from_cfg(cfg(part))
    runner.register_hook(_KillInSecondEpoch(), priority='LOWEST')
    with pytest.raises(_Interrupt):
        runner.train()
    assert (part / 'epoch_1.pth').exists()
    assert not (part / 'epoch_2.pth').exists()
    resumed = cfg(part)
    resumed.resume = True
    Runner.from_cfg(resumed).train()
    a, b = _state(full / 'epoch_2.pth'), _state(part / 'epoch_2.pth')
    sa, sb = a['state_dict'], b['state_dict']
    assert any(k.startswith('distill_losses.loss_isdm.scaler') for k in sa)
    assert sa.keys() == sb.keys()
    assert all(torch.equal(sa[k], sb[k]) for k in sa), [
        k for k in sa if not torch.equal(sa[k], sb[k])][:5]
    oa, ob = a['optimizer']['state'], b['optimizer']['state']
    assert all(torch.equal(oa[i]['momentum_buffer'],
                           ob[i]['momentum_buffer']) for i in oa)


def test_resume_from_another_configs_checkpoint(demo_scenes, tmp_path,
                                                teacher_ckpt):
    kd = tmp_path / 'kd'
    Runner.from_cfg(_cfg('demo/kd_r34_r18_demo.py', demo_scenes, kd, 1,
                         teacher_ckpt)).train()
    proc = subprocess.run(
        [sys.executable, 'tools/train.py', 'configs/demo/isdm_r34_r18_demo.py',
         '--work-dir', str(tmp_path / 'isdm'), '--resume',
         str(kd / 'epoch_1.pth'), '--cfg-options',
         f'model.teacher_ckpt={teacher_ckpt}',
         f'train_dataloader.dataset.data_root={demo_scenes}',
         f'val_dataloader.dataset.data_root={demo_scenes}'],
        cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode != 0
    assert (f'Cannot resume from "{kd}/epoch_1.pth": it is not a checkpoint'
            ' of configs/demo/isdm_r34_r18_demo.py') in proc.stderr
    assert 'distill_losses.loss_isdm.scaler' in proc.stderr


def _two_processes(demo_scenes, teacher_ckpt, script, *args, port,
                   options=()):
    """``script`` (tools/train.py or tools/cache_teacher.py) in 2 gloo
    processes on the demo scenes; returns the combined log."""
    env = dict(__import__('os').environ, PYTHONPATH=ROOT)
    proc = subprocess.run(
        [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node=2',
         f'--master_port={port}', script, 'configs/demo/kd_r34_r18_demo.py',
         '--launcher', 'pytorch', *args, '--cfg-options',
         f'model.teacher_ckpt={teacher_ckpt}',
         f'train_dataloader.dataset.data_root={demo_scenes}',
         f'val_dataloader.dataset.data_root={demo_scenes}',
         'train_dataloader.num_workers=0', 'val_dataloader.num_workers=0',
         'train_dataloader.batch_size=8', 'train_cfg.max_epochs=1',
         'train_cfg.val_interval=1', 'default_hooks.logger.interval=1',
         *options],
        cwd=ROOT, capture_output=True, text=True, env=env, timeout=600)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-3000:]
    return log


def test_two_process_training_on_cpu(demo_scenes, tmp_path, teacher_ckpt):
    """2 gloo processes train (tools/dist_train.sh's launch); a teacher
    cache built by 2 processes equals the 1-process build, and a 2-process
    run reading it (each rank its own samples) ends with the online 2-process
    run's weights."""
    env = dict(__import__('os').environ, PORT='29611')
    online = tmp_path / 'online'
    proc = subprocess.run(
        ['bash', 'tools/dist_train.sh', 'configs/demo/kd_r34_r18_demo.py', '2',
         '--work-dir', str(online), '--cfg-options',
         f'model.teacher_ckpt={teacher_ckpt}',
         f'train_dataloader.dataset.data_root={demo_scenes}',
         f'val_dataloader.dataset.data_root={demo_scenes}',
         'train_dataloader.num_workers=0', 'val_dataloader.num_workers=0',
         'train_dataloader.batch_size=8', 'train_cfg.max_epochs=1',
         'train_cfg.val_interval=1', 'default_hooks.logger.interval=1'],
        cwd=ROOT, capture_output=True, text=True, env=env, timeout=600)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-3000:]
    # 36 images over 2 processes x 8 per batch: 3 iterations each
    assert 'Epoch(train) [1][3/3]' in log
    assert 'accuracy/top1' in log
    state = _state(online / 'epoch_1.pth')['state_dict']
    assert not any(k.startswith('module.') or 'teacher' in k for k in state)

    cache, single = tmp_path / 'cache', tmp_path / 'single'
    cache_log = _two_processes(
        demo_scenes, teacher_ckpt, 'tools/cache_teacher.py',
        '--out', str(cache), '--dtype', 'fp32', '--variants', 'off',
        port=29612)
    assert 'rows to compute on rank 1/2' in cache_log
    from tests.test_teacher_cache import _tool
    _tool().main([str(ROOT + '/configs/demo/kd_r34_r18_demo.py'), '--out',
                  str(single), '--dtype', 'fp32', '--variants', 'off',
                  '--num-workers', '0', '--cfg-options',
                  f'model.teacher_ckpt={teacher_ckpt}',
                  f'train_dataloader.dataset.data_root={demo_scenes}',
                  'train_cfg.max_epochs=1'])
    assert np.load(cache / 'done.npy').all()
    assert np.allclose(np.load(cache / 'logits.npy'),
                       np.load(single / 'logits.npy'), rtol=0, atol=1e-5)
    cached_log = _two_processes(
        demo_scenes, teacher_ckpt, 'tools/train.py', '--work-dir',
        str(tmp_path / 'cached'), port=29613,
        options=[f'model.teacher_cache.path={cache}'])
    assert 'Epoch(train) [1][3/3]' in cached_log
    cached = _state(tmp_path / 'cached' / 'epoch_1.pth')['state_dict']
    assert all(torch.allclose(state[k].float(), cached[k].float(),
                              rtol=1e-5, atol=1e-6) for k in state)
