"""tools/train.py and tools/test.py add exactly what the config's own
OpenMMLab tool adds under its dataloaders, never overriding the config:
mmpretrain's tool fills in ``default_collate`` (and pin memory, persistent
workers); mmdet's adds nothing, so mmengine's ``pseudo_collate`` keeps images
of different sizes apart until ``DetDataPreprocessor`` pads them."""
import os.path as osp

import pytest
from mmengine.config import Config

from mmrskd.apis import cli

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def _loaders(path, **kwargs):
    cfg = Config.fromfile(osp.join(ROOT, path))
    cli.set_dataloader_defaults(
        cfg, ('train_dataloader', 'val_dataloader', 'test_dataloader'),
        **kwargs)
    return [cfg[k] for k in ('train_dataloader', 'val_dataloader',
                             'test_dataloader')]


@pytest.mark.parametrize('path', [
    'configs/retinanet_r18_fpn_nwpu-vhr10.py',
    'configs/dynkd_faster-rcnn_r50_r18_dota.py',
    'configs/fcos_r18_fpn_dota.py'])
def test_detection_loaders_keep_mmengines_collation(path):
    for loader in _loaders(path):
        assert 'collate_fn' not in loader, (path, loader)


def test_classification_loaders_get_mmpretrains_defaults():
    for loader in _loaders('configs/isdm_r34_r18_nwpu.py'):
        assert loader.collate_fn == dict(type='default_collate')
        assert loader.pin_memory is False  # no GPU here


def test_the_configs_own_collation_wins():
    cfg = Config.fromfile(osp.join(ROOT, 'configs/isdm_r34_r18_nwpu.py'))
    cfg.train_dataloader.collate_fn = dict(type='pseudo_collate')
    cli.set_dataloader_defaults(cfg, ('train_dataloader', ))
    assert cfg.train_dataloader.collate_fn == dict(type='pseudo_collate')


def test_no_persistent_workers_flag_and_zero_workers():
    train, *_ = _loaders('configs/retinanet_r18_fpn_nwpu-vhr10.py',
                         persistent_workers=False)
    assert train.persistent_workers is False
    cfg = Config.fromfile(osp.join(ROOT, 'configs/isdm_r34_r18_nwpu.py'))
    cfg.train_dataloader.num_workers = 0
    cli.set_dataloader_defaults(cfg, ('train_dataloader', ))
    assert cfg.train_dataloader.persistent_workers is False
