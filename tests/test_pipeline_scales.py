"""Every classification config tests at the scale it trains at.

Training resizes to S and takes random C-pixel crops, so an object is S/side
times its size in the image; the test pipeline must resize to the same S and
take the central C pixels, not resize the whole image to C (which shrinks
every object by C/S, e.g. 224/256). Parametrised over the files, so a new
config is covered automatically.
"""
import glob
import os.path as osp
from typing import Optional, Sequence, Tuple

import numpy as np
import pytest
from mmengine.config import Config
from mmengine.dataset import Compose
from mmengine.registry import init_default_scope

from mmrskd.utils.extras import mmrotate_installed

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIGS = sorted(
    osp.relpath(p, ROOT) for p in glob.glob(osp.join(ROOT, 'configs', '**',
                                                     '*.py'), recursive=True)
    if '_base_' not in p
    # the oriented-box configs load only with the extra "rotated"
    and (mmrotate_installed() or 'configs/rotated/' not in p))

#: transforms that leave the spatial size as it is
KEEP_SIZE = {'LoadImageFromFile', 'RandomFlip', 'PackInputs', 'ColorJitter',
             'RandomGrayscale', 'Normalize', 'RandAugment', 'Cutout',
             'Rotate'}  # mmpretrain's Rotate keeps the canvas
CROPS = {'RandomCrop', 'CenterCrop', 'RandomResizedCrop'}

Size = Optional[Tuple[int, int]]


def _pair(value) -> Tuple[int, int]:
    return (value, value) if isinstance(value, int) else tuple(value)


def scales(pipeline: Sequence[dict]) -> Tuple[Size, Size]:
    """``(scale before the crop, final size)`` of a pipeline, as (w, h);
    None = the image's own size (no resize)."""
    before, crop = _walk(pipeline, None, None)
    return before, crop or before


def _walk(pipeline: Sequence[dict], before: Size,
          crop: Size) -> Tuple[Size, Size]:
    """(scale before the crop, crop) after ``pipeline``; the views of a
    MultiView transform must agree."""
    for t in pipeline:
        kind = t['type']
        if kind == 'MultiView':
            views = {_walk(v, before, crop) for v in t['transforms']}
            assert len(views) == 1, f'views of different sizes: {t}'
            before, crop = views.pop()
        elif kind == 'Resize' and crop is None:
            assert t.get('scale') and not t.get('keep_ratio'), t
            before = _pair(t['scale'])
        elif kind in CROPS and crop is None:
            crop = _pair(t['crop_size'])
        elif kind not in KEEP_SIZE:
            raise AssertionError(f'unknown spatial transform {t}: teach '
                                 'tests/test_pipeline_scales.py about it')
    return before, crop


def _configs_by_scope():
    out = {}
    for path in CONFIGS:
        cfg = Config.fromfile(osp.join(ROOT, path))
        out.setdefault(cfg.default_scope, {})[path] = cfg
    return out


#: loaded once: the scale tests only read them
BY_SCOPE = _configs_by_scope()
CLS_CONFIGS = BY_SCOPE.get('mmpretrain', {})


def test_classification_configs_found():
    # every config is a classification or a detection one (mmdet, or
    # mmrotate for the oriented-box configs), and the scale tests below run
    # on all classification ones
    assert {'mmpretrain', 'mmdet'} <= set(BY_SCOPE) <= {
        'mmpretrain', 'mmdet', 'mmrotate'}
    assert sorted(p for paths in BY_SCOPE.values() for p in paths) == \
        sorted(CONFIGS)
    assert 'configs/rsscn7_cpu/resnet18w8_rsscn7_cpu.py' in CLS_CONFIGS


@pytest.mark.parametrize('path', list(CLS_CONFIGS))
def test_test_pipeline_matches_the_training_scale(path):
    cfg = CLS_CONFIGS[path]
    train_before, train_final = scales(cfg.train_dataloader.dataset.pipeline)
    for split in ('val_dataloader', 'test_dataloader'):
        before, final = scales(cfg[split].dataset.pipeline)
        assert final == train_final, (path, split, final, train_final)
        assert before == train_before, (path, split, before, train_before)


@pytest.mark.parametrize('path', [
    'configs/resnet18_nwpu.py', 'configs/rsscn7_cpu/resnet18w8_rsscn7_cpu.py',
    'configs/resnet18_dota.py', 'configs/demo/resnet18_demo.py',
    'configs/dkd_vgg16_gghost_aid.py'
])
def test_pipelines_give_the_same_size(path, tmp_path):
    """Run both pipelines on a non-square image: same output size."""
    import cv2
    init_default_scope('mmpretrain')
    img = str(tmp_path / 'scene.png')
    cv2.imwrite(img, np.random.RandomState(0).randint(
        0, 255, (90, 130, 3), dtype=np.uint8))
    cfg = Config.fromfile(osp.join(ROOT, path))
    shapes = {}
    for split in ('train_dataloader', 'test_dataloader'):
        out = Compose(cfg[split].dataset.pipeline)(
            dict(img_path=img, gt_label=0))
        shapes[split] = tuple(out['inputs'].shape[1:])
    assert shapes['train_dataloader'] == shapes['test_dataloader'], shapes
    _, final = scales(cfg.train_dataloader.dataset.pipeline)
    assert shapes['test_dataloader'] == (final[::-1] if final else (90, 130))
