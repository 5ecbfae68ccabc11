"""The papers' configs run as the README says, on a fake dataset laid out
exactly like the real one (official folder names, 256 px images)."""
import math
import os.path as osp
import re
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

import mmrskd  # noqa: F401

from .conftest import write_images

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


@pytest.mark.parametrize('config,dataset,size', [
    ('isdm_r34_r18_nwpu.py', 'NWPURESISC45', 256),
    ('dkd_r34_r18_aid_5-5.py', 'AID', 256),
    ('dft_r110_r18_dota.py', 'DOTACls', 64),
])
def test_paper_config_trains_on_official_layout(config, dataset, size,
                                                tmp_path):
    from mmpretrain.registry import DATASETS, MODELS
    init_default_scope('mmpretrain')
    classes = DATASETS.get(dataset).METAINFO['classes']
    data_root = tmp_path / 'data'
    for i, c in enumerate(classes):
        write_images(str(data_root / c), 2, size=size, seed=i, ext='.jpg')
    # a teacher checkpoint of the matching teacher config
    cfg = Config.fromfile(osp.join(ROOT, 'configs', config))
    teacher = MODELS.build(Config.fromfile(cfg.model.teacher_cfg).model)
    ckpt = tmp_path / 'teacher.pth'
    torch.save({'state_dict': teacher.state_dict()}, ckpt)
    opts = [
        f'train_dataloader.dataset.data_root={data_root}',
        f'val_dataloader.dataset.data_root={data_root}',
        f'test_dataloader.dataset.data_root={data_root}',
        'train_dataloader.dataset.indices=4', 'train_dataloader.batch_size=4',
        'val_dataloader.dataset.indices=4', 'train_dataloader.num_workers=0',
        'val_dataloader.num_workers=0', 'train_cfg.max_epochs=1',
        'default_hooks.logger.interval=1',
        'train_cfg.val_interval=1', f'model.teacher_ckpt={ckpt}'
    ]
    proc = subprocess.run(
        [sys.executable, 'tools/train.py', osp.join('configs', config),
         '--work-dir', str(tmp_path / 'work'), '--cfg-options', *opts],
        cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    log = proc.stdout + proc.stderr
    # the student's CE and every distillation loss of the config are
    # logged as finite numbers, and the test split was scored
    for key in ['loss', *cfg.model.distill_losses]:
        values = re.findall(rf'\s{key}: (\S+)', log)
        assert values, (key, log[-2000:])
        assert all(math.isfinite(float(v)) for v in values), (key, values)
    top1 = [float(v) for v in re.findall(r'accuracy/top1: (\S+)', log)]
    assert top1 and all(0 <= v <= 100 for v in top1), top1
    if config.startswith('dft'):
        # the chosen-transform histogram reaches mmengine's log
        assert 'flip_align/identity' in log
    assert osp.isfile(tmp_path / 'work' / 'student_final.pth')
