"""Every config under configs/ loads and its model builds.

Parametrised over the files, so a new config is covered automatically.
"""
import glob
import os.path as osp
from pathlib import Path

import pytest
from mmengine.config import Config
from mmengine.registry import DefaultScope, init_default_scope

from mmrskd.utils.model_config import config_model

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIGS = sorted(
    osp.relpath(p, ROOT) for p in glob.glob(osp.join(ROOT, 'configs', '**',
                                                     '*.py'), recursive=True)
    if '_base_' not in osp.relpath(p, ROOT))


#: what the rotated configs (optional extra "rotated", mmrotate) import:
#: the plugin and its mmrotate dataset (tests/test_rotated.py)
ROTATED_IMPORTS = ['mmrskd', 'mmrskd.datasets.rotated_dota']


def load(path: str) -> Config:
    """The config file ``path``; a rotated one skips, saying how to install
    the extra, when mmrotate is not installed."""
    if path.startswith('configs/rotated/'):
        from mmrskd.utils.extras import ROTATED_MISSING
        pytest.importorskip('mmrotate', reason=f'{path} {ROTATED_MISSING}')
    return Config.fromfile(osp.join(ROOT, path))


def configs_on_disk() -> set:
    """The config files counted from the folder another way than the glob
    above: every ``.py`` under configs/ and its sub-folders, ``_base_``
    aside."""
    configs = Path(ROOT) / 'configs'
    return {str(p.relative_to(ROOT)) for p in configs.rglob('*.py')
            if '_base_' not in p.relative_to(configs).parts}


def test_every_config_is_exercised():
    on_disk = configs_on_disk()
    assert 'configs/isdm_r34_r18_nwpu.py' in on_disk
    # the sub-folders are walked, not only the top level
    assert {'rsscn7_cpu', 'airbus', 'demo'} <= {
        Path(p).parts[1] for p in on_disk if len(Path(p).parts) > 2}
    assert len(CONFIGS) == len(set(CONFIGS))
    assert set(CONFIGS) == on_disk, (sorted(on_disk - set(CONFIGS)),
                                     sorted(set(CONFIGS) - on_disk))
    # ... and every parametrised test below runs on all of them
    for test in (test_config_loads_and_model_builds,
                 test_dataset_variables_reach_the_loaders,
                 test_scratch_backbones_train_every_stage):
        (mark, ) = [m for m in test.pytestmark if m.name == 'parametrize']
        assert mark.args == ('path', CONFIGS), test.__name__


@pytest.mark.parametrize('path', CONFIGS)
def test_config_loads_and_model_builds(path):
    cfg = load(path)
    rotated = cfg.default_scope == 'mmrotate'
    assert cfg.custom_imports == dict(
        imports=ROTATED_IMPORTS if rotated else ['mmrskd'],
        allow_failed_imports=False)
    assert cfg.default_scope in ('mmpretrain', 'mmdet', 'mmrotate')
    init_default_scope(cfg.default_scope)
    if cfg.default_scope == 'mmpretrain':
        from mmpretrain.registry import DATASETS, MODELS
    elif rotated:
        from mmrotate.registry import DATASETS, MODELS
    else:
        from mmdet.registry import DATASETS, MODELS
    model_cfg = config_model(cfg)
    # Distillers are built without their teacher checkpoint here; loading is
    # tested separately.
    if 'teacher_ckpt' in model_cfg:
        model_cfg.teacher_ckpt = None
        model_cfg.allow_random_teacher = True
    # building a distiller checks each loss's inputs against its forward
    model = MODELS.build(model_cfg)
    assert sum(p.numel() for p in model.parameters()) > 0
    if cfg.model.get('distill_losses'):
        assert set(model.loss_inputs) == set(cfg.model.distill_losses)
    for split in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        ds_type = cfg[split].dataset.type
        assert DATASETS.get(ds_type) is not None, (path, ds_type)
    DefaultScope._instance_dict.clear()


def _innermost(dataset: dict) -> dict:
    while 'dataset' in dataset:
        dataset = dataset['dataset']
    return dataset


@pytest.mark.parametrize('path', CONFIGS)
def test_dataset_variables_reach_the_loaders(path):
    """A config's `data_root` / `img_scale` variables are what its loaders use.

    mmengine resolves a base file's variables inside that file, so a dataset
    file that only redefines `data_root` would silently keep its base's
    loaders (this happened: the Airbus configs read DOTA's folder at 1024 px).
    """
    cfg = load(path)
    for split in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        dataset = _innermost(cfg[split])
        if 'data_root' in cfg:
            assert dataset.get('data_root') == cfg.data_root, (split, dataset)
        if 'img_scale' in cfg:
            scales = [t.get('scale') for t in dataset.get('pipeline', [])
                      if t['type'] == 'Resize']
            assert scales == [cfg.img_scale], (split, scales)


@pytest.mark.parametrize('path', CONFIGS)
def test_scratch_backbones_train_every_stage(path):
    """A backbone without pretrained weights must not freeze random layers.

    mmdet's base models freeze the stem and layer1 and keep BatchNorm in eval
    mode because they expect ImageNet weights; from scratch that leaves random
    frozen layers and BatchNorm statistics of mean 0 / variance 1.
    """
    model = load(path).model
    for part in (model, model.get('student'), model.get('teacher')):
        backbone = (part or {}).get('backbone')
        if backbone and backbone.get('init_cfg') is None:
            assert backbone.get('frozen_stages', -1) == -1, path
            assert not backbone.get('norm_eval', False), path
