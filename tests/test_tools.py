"""End to end: tools/train.py for a short run, tools/test.py with --out,
and --resume from the last checkpoint (torch's weights_only loader)."""
import json
import os.path as osp
import subprocess
import sys

import pytest

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def _opts(data_root, epochs):
    return [
        '--cfg-options', f'train_dataloader.dataset.data_root={data_root}',
        f'val_dataloader.dataset.data_root={data_root}',
        f'test_dataloader.dataset.data_root={data_root}',
        'train_dataloader.num_workers=0', 'val_dataloader.num_workers=0',
        'test_dataloader.num_workers=0',
        'train_dataloader.batch_size=8', f'train_cfg.max_epochs={epochs}',
        'train_cfg.val_interval=1', f'param_scheduler.T_max={epochs}',
        'default_hooks.logger.interval=1'
    ]


def _run(*args):
    proc = subprocess.run([sys.executable, *args], cwd=ROOT,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


@pytest.fixture(scope='module')
def trained(demo_scenes, tmp_path_factory):
    work = str(tmp_path_factory.mktemp('train'))
    _run('tools/train.py', 'configs/demo/resnet18_demo.py', '--work-dir', work,
         *_opts(demo_scenes, 1))
    return work


def test_train_one_epoch_then_test_with_out(trained, demo_scenes):
    ckpt = osp.join(trained, 'epoch_1.pth')
    assert osp.isfile(ckpt)
    out = osp.join(trained, 'metrics.json')
    _run('tools/test.py', 'configs/demo/resnet18_demo.py', ckpt, '--work-dir',
         trained, '--out', out, '--out-item', 'metrics',
         *_opts(demo_scenes, 1))
    metrics = json.load(open(out))
    assert set(metrics) >= {'accuracy/top1'}
    assert 0 <= metrics['accuracy/top1'] <= 100
    # predictions dump
    pred = osp.join(trained, 'pred.pkl')
    _run('tools/test.py', 'configs/demo/resnet18_demo.py', ckpt, '--work-dir',
         trained, '--out', pred, *_opts(demo_scenes, 1))
    import pickle
    with open(pred, 'rb') as f:
        preds = pickle.load(f)
    assert len(preds) == 12  # 6 classes x 8 images, 2 of each for test
    assert preds[0]['pred_score'].shape[-1] == 6


def test_resume_continues_from_last_checkpoint(trained, demo_scenes):
    proc = _run('tools/train.py', 'configs/demo/resnet18_demo.py',
                '--work-dir', trained, '--resume', *_opts(demo_scenes, 2))
    log = proc.stdout + proc.stderr
    assert 'resumed epoch: 1' in log
    assert osp.isfile(osp.join(trained, 'epoch_2.pth'))


def test_missing_config_is_named(tmp_path):
    proc = subprocess.run(
        [sys.executable, 'tools/train.py', 'configs/nope.py'], cwd=ROOT,
        capture_output=True, text=True)
    assert proc.returncode != 0
    assert 'Config file "configs/nope.py" does not exist' in proc.stderr


def test_test_tool_flags():
    from tools import test as test_tool
    from tools import train as train_tool
    args = train_tool.parse_args([
        'c.py', '--work-dir', 'w', '--resume', '--amp', '--no-validate',
        '--auto-scale-lr', '--no-pin-memory', '--no-persistent-workers',
        '--cfg-options', 'a=1', '--launcher', 'none', '--local-rank', '0'])
    assert args.resume == 'auto' and args.amp and args.no_validate
    args = test_tool.parse_args([
        'c.py', 'ck.pth', '--work-dir', 'w', '--out', 'o.pkl', '--out-item',
        'pred', '--show-dir', 's', '--show', '--interval', '2',
        '--wait-time', '1', '--no-pin-memory', '--tta', '--cfg-options',
        'a=1', '--launcher', 'none', '--local_rank', '0'])
    assert args.tta and args.interval == 2
