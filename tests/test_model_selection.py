"""No checkpoint is selected on the test split by default; the README's
"Model selection" options select the best epoch on a validation split
carved out of the training share and export it as ``student_best.pth``."""
import argparse
import glob
import os.path as osp
import re
import shlex

import pytest
import torch
from mmengine.config import Config, DictAction
from mmengine.hooks import Hook
from mmengine.registry import init_default_scope
from mmengine.runner import Runner
from mmpretrain.registry import MODELS

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CLS_CONFIGS = sorted(
    p for p in glob.glob(osp.join(ROOT, 'configs', '**', '*.py'),
                         recursive=True) if '_base_' not in p)


def readme_options():
    """The ``--cfg-options`` of the README's "Model selection" command."""
    readme = open(osp.join(ROOT, 'README.md')).read()
    section = readme.split('### Model selection')[1]
    cmd = re.search(r'```bash\n(.*?)```', section, re.S).group(1)
    argv = shlex.split(cmd.replace('\\\n', ' '))
    parser = argparse.ArgumentParser()
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    args, _ = parser.parse_known_args(argv[argv.index('--cfg-options'):])
    return args.cfg_options


@pytest.mark.parametrize('path', CLS_CONFIGS,
                         ids=[osp.basename(p) for p in CLS_CONFIGS])
def test_no_checkpoint_selected_by_default(path):
    cfg = Config.fromfile(path)
    assert cfg.default_hooks.checkpoint.get('save_best') is None, path
    if cfg.default_scope == 'mmpretrain':
        assert cfg.val_dataloader.dataset.split == 'test'
        assert cfg.test_dataloader.dataset.split == 'test'


def test_readme_options_are_the_documented_ones():
    opts = readme_options()
    assert opts == {
        'train_dataloader.dataset.val_ratio': 0.1,
        'val_dataloader.dataset.val_ratio': 0.1,
        'val_dataloader.dataset.split': 'val',
        'default_hooks.checkpoint.save_best': 'accuracy/top1',
        'default_hooks.checkpoint.rule': 'greater'}
    # the same line as the comment of default_runtime.py
    runtime = open(osp.join(ROOT, 'configs/_base_/default_runtime.py')).read()
    for key, value in opts.items():
        assert f'{key}={value}' in runtime


class _ValSpy(Hook):
    """Record the validation loop's dataset and metrics of every epoch."""

    def __init__(self):
        self.top1, self.paths, self.splits = [], set(), set()

    def after_val_epoch(self, runner, metrics=None):
        ds = runner.val_loop.dataloader.dataset
        self.splits.add(ds.split)
        self.paths |= {ds.get_data_info(i)['img_path']
                       for i in range(len(ds))}
        self.top1.append(metrics['accuracy/top1'])


def _runner(demo_scenes, tmp_path, options, epochs):
    init_default_scope('mmpretrain')
    cfg = Config.fromfile(osp.join(ROOT, 'configs/demo/kd_r34_r18_demo.py'))
    teacher = tmp_path / 'teacher.pth'
    torch.manual_seed(0)
    torch.save({'state_dict': MODELS.build(
        Config.fromfile(cfg.model.teacher_cfg).model).state_dict()}, teacher)
    cfg.merge_from_dict(options)
    for split in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[split].dataset.data_root = demo_scenes
        cfg[split].num_workers = 0
        cfg[split].persistent_workers = False
    cfg.merge_from_dict({
        'model.teacher_ckpt': str(teacher), 'train_cfg.max_epochs': epochs,
        'train_cfg.val_interval': 1, 'train_dataloader.batch_size': 8,
        'param_scheduler.T_max': epochs, 'default_hooks.logger.interval': 1,
        'work_dir': str(tmp_path / 'work')})
    runner = Runner.from_cfg(cfg)
    spy = _ValSpy()
    runner.register_hook(spy, priority='LOWEST')
    return runner, spy


def _split_paths(runner, loader):
    ds = getattr(runner, loader).dataset
    return {ds.get_data_info(i)['img_path'] for i in range(len(ds))}


def test_best_checkpoint_is_selected_on_the_val_split(demo_scenes, tmp_path):
    runner, spy = _runner(demo_scenes, tmp_path, readme_options(), epochs=2)
    runner.train()
    work = tmp_path / 'work'
    # the validation loop read the carved validation split only: disjoint
    # from the training and the test images (which it never saw)
    train, test = (_split_paths(runner, 'train_dataloader'),
                   _split_paths(runner, 'test_dataloader'))
    assert spy.splits == {'val'} and len(spy.paths) == 6  # 1 per class
    assert not spy.paths & test and not spy.paths & train
    assert runner.test_dataloader.dataset.split == 'test'
    assert len(train) + len(spy.paths) + len(test) == 48
    # the best checkpoint is the first epoch with the best val top-1
    assert len(spy.top1) == 2
    best_epoch = spy.top1.index(max(spy.top1)) + 1
    best = runner.message_hub.get_info('best_ckpt')
    assert osp.basename(best) == \
        f'best_accuracy_top1_epoch_{best_epoch}.pth'
    assert runner.message_hub.get_info('best_score') == max(spy.top1)
    # ... and student_best.pth is its student
    exported = torch.load(work / 'student_best.pth', weights_only=True)
    assert exported['meta']['mmrskd_exported_from'] == osp.abspath(best)
    state = torch.load(best, weights_only=True)['state_dict']
    for key, value in exported['state_dict'].items():
        assert torch.equal(value, state[f'student.{key}']), key
    assert osp.isfile(work / 'student_final.pth')
    log = open(glob.glob(str(work / '*' / '*.log'))[0]).read()
    assert 'selected on the test split' not in log


@pytest.mark.parametrize('split,warns', [('test', True), ('val', False)])
def test_best_selected_on_the_test_split_warns(make_scene_root, tmp_path,
                                               split, warns):
    """ExportStudentHook names a best checkpoint selected on the test split
    (a fake runner: the hook's own behaviour, without training)."""
    from types import SimpleNamespace

    from mmengine.logging import MessageHub, MMLogger

    from mmrskd.datasets import RSSceneDataset
    from mmrskd.engine.hooks.export_student_hook import ExportStudentHook
    ckpts = {}
    for name in ('epoch_2.pth', 'best_accuracy_top1_epoch_1.pth'):
        ckpts[name] = str(tmp_path / name)
        torch.save({'state_dict': {'student.w': torch.ones(1)}}, ckpts[name])
    (tmp_path / 'last_checkpoint').write_text(ckpts['epoch_2.pth'])
    hub = MessageHub.get_instance(f'selection_{split}')
    hub.update_info('best_ckpt', ckpts['best_accuracy_top1_epoch_1.pth'])
    log_file = tmp_path / 'hook.log'
    dataset = RSSceneDataset(make_scene_root({'a': 20}), split=split,
                             val_ratio=0.1)
    runner = SimpleNamespace(
        rank=0, work_dir=str(tmp_path), message_hub=hub,
        logger=MMLogger.get_instance(f'selection_{split}',
                                     log_file=str(log_file)),
        val_loop=SimpleNamespace(
            dataloader=SimpleNamespace(dataset=dataset)))
    ExportStudentHook().after_train(runner)
    assert osp.isfile(tmp_path / 'student_best.pth')
    message = (f'ExportStudentHook: the best checkpoint '
               f"{ckpts['best_accuracy_top1_epoch_1.pth']} was selected on "
               "the test split (val_dataloader.dataset.split='test'), so its "
               'test accuracy is optimistic; report student_final.pth, or '
               'select on a validation split')
    assert (message in log_file.read_text()) == warns


def test_val_ratio_forgotten_on_the_training_set_is_refused(demo_scenes,
                                                             tmp_path):
    """With val_ratio on the validation dataset only, the training set would
    still hold the validation images: SplitCheckHook stops before
    training."""
    options = {k: v for k, v in readme_options().items()
               if k != 'train_dataloader.dataset.val_ratio'}
    runner, _ = _runner(demo_scenes, tmp_path, options, epochs=1)
    with pytest.raises(ValueError, match=r"split differently, so the "
                       r"training set may hold validation images: "
                       r"\{'val_ratio': \(0.0, 0.1\)\}"):
        runner.train()
    assert not list((tmp_path / 'work').glob('*.pth'))
