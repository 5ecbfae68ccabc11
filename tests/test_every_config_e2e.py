"""Every shipped config trains and tests through tools/train.py and
tools/test.py on small data in its dataset's real on-disk layout.

Parametrised over the files of configs/ and its sub-folders (``_base_``
aside), so a new config is covered automatically. Each config is loaded as
a user's file would be, pointed at generated data under a path with spaces
(scene folders with the official class names and non-square images of
different sizes, NWPU VHR-10 as it ships, unsplit DOTA and the output of
``dota_split.py`` / ``dota_to_cls.py``, the Airbus sample through
``airbus_to_dota.py``), shrunk to a small input scale (aspect-preserving
resizes stay so, so detection batches hold images of different sizes),
trained for one epoch of exactly 2 iterations of batch 2, and tested;
distillers get a teacher checkpoint in mmengine Runner's format built from
their ``teacher_cfg``.
"""
import functools
import glob
import importlib
import math
import os
import os.path as osp
import re
import shutil
from typing import Callable, Dict, Iterator, List, Tuple

import numpy as np
import pytest
import torch
from mmengine.config import Config, ConfigDict

from mmrskd.datasets.wrappers import innermost_dataset
from mmrskd.datasets.dota_labels import DOTA_V1_CLASSES
from mmrskd.testing import layouts
from mmrskd.testing.checkpoints import save_runner_checkpoint
from mmrskd.testing.demo_scenes import make_demo_scenes

from .conftest import check_r18_student

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
#: paths relative to configs/ (``rsscn7_cpu/kd_r34_r18w8_rsscn7_cpu.py``)
ALL_CONFIGS = sorted(
    osp.relpath(p, osp.join(ROOT, 'configs'))
    for p in glob.glob(osp.join(ROOT, 'configs', '**', '*.py'),
                       recursive=True) if '_base_' not in p)
#: the baselines, DKD and ISDM on the paper datasets are the KD config of
#: that dataset with the method's distill_losses (checked by
#: test_baseline_configs_are_kd_with_other_losses); KD's config covers the
#: data and the teacher, the method's RSSCN7 config covers the loss in
#: training, so they are not trained again here
BASELINE = re.compile(r'^(dist|nkd|mlkd|ctkd|wttm|fitnet|at|rkd|crd|reviewkd'
                      r'|sdd|dkd|isdm)_r34_r18_(nwpu|aid|ucm|rsscn7)\.py$')
#: the ISDM ablations of UC Merced: isdm_r34_r18_ucm.py with loss options
#: (checked, and the loss built and run with them, by
#: test_isdm_ablations_are_the_ucm_config_with_loss_options)
ISDM_ABLATION = {'isdm_r34_r18_ucm_fm5.py': dict(margin='fixed',
                                                 margin_value=5.0),
                 'isdm_r34_r18_ucm_noDM.py': dict(use_dm=False),
                 'isdm_r34_r18_ucm_noIS.py': dict(use_is=False)}
#: the scene students alone: the dataset's ResNet-34 config with a
#: ResNet-18, the student that the dataset's KD config trains here (checked
#: by test_scene_students_are_the_teacher_with_r18)
CLS_STUDENT = re.compile(r'^resnet18_(aid|nwpu|ucm|rsscn7|rsod)\.py$')
#: the same for the detection baselines: dynamic KD's config of the family
#: and dataset with the method's loss instead of GD/ISD/TSA; the Airbus
#: RetinaNet ones train here (the loss), and so does each family's Airbus
#: dynamic-KD config (student, teacher, data)
DET_BASELINE = re.compile(r'^(?:airbus/)?(fgd|pkd|cwd|mgd)_'
                          r'(retinanet|faster-rcnn|fcos)_r50_r18_'
                          r'(dota|nwpu-vhr10|airbus)\.py$')
#: the detection students alone: the family's R50 config with a ResNet-18
#: (checked by test_det_students_are_the_teacher_with_r18), the model and
#: data that the family's dynamic-KD config trains and tests as its student
#: here; the R50 config covers the plain detector's training and testing
DET_STUDENT = re.compile(r'^((?:airbus/)?)(retinanet|faster-rcnn|fcos)'
                         r'_r18_fpn_(dota|nwpu-vhr10|airbus)\.py$')
#: the R50 detectors (the teachers) of DOTA and NWPU VHR-10: the family's
#: dynamic-KD config of the dataset builds and runs it as its teacher and
#: trains its model with a ResNet-18 (the R18 config, checked by
#: test_det_students_are_the_teacher_with_r18) on the same data; the
#: family's Airbus R50 config covers the plain detector's training and
#: testing
DET_TEACHER = re.compile(r'^(retinanet|faster-rcnn|fcos)_r50_fpn_'
                         r'(dota|nwpu-vhr10)\.py$')
#: the loss settings' variable of _base_/distill/det_<method>.py per family
DET_FAMILY_LOSS = {'retinanet': '', 'faster-rcnn': '_two_stage',
                   'fcos': '_anchor_free'}
#: VGG-16 needs 224 px inputs (its classifier sits on a 7 x 7 map), the
#: slowest configs here: the RSOD ones are the AID ones on RSOD's data
#: (checked by test_rsod_vgg_configs_are_the_aid_ones_on_rsod), whose e2e
#: is resnet34_rsod.py's
VGG_RSOD = {'vgg16_rsod.py': 'vgg16_aid.py',
            'dkd_vgg16_gghost_rsod.py': 'dkd_vgg16_gghost_aid.py'}
#: the oriented-box configs need the optional extra "rotated" (mmrotate);
#: tests/test_rotated.py (the detectors) and tests/test_rotated_distill.py
#: (the distillers) train and test each of them with the tools, or skip
#: saying how to install the extra
ROTATED = re.compile(r'^rotated/')
def _det_baseline_covered(name: str) -> bool:
    """A detection baseline config that is not trained here: all but the
    Airbus RetinaNet ones."""
    match = DET_BASELINE.match(name)
    return bool(match) and match.group(2, 3) != ('retinanet', 'airbus')


#: the 5:5 split configs are their 8:2 config with train_ratio 0.5 and the
#: 5:5 teacher (checked by test_split_configs_are_the_8_2_ones_at_0_5); the
#: 8:2 config covers model and data in training, the split's tests the ratio
SPLIT_55 = re.compile(r'^(.+)_5-5\.py$')
CONFIGS = [c for c in ALL_CONFIGS
           if not BASELINE.match(c) and not _det_baseline_covered(c)
           and c not in VGG_RSOD and not ROTATED.match(c)
           and not SPLIT_55.match(c) and not DET_STUDENT.match(c)
           and c not in ISDM_ABLATION and not CLS_STUDENT.match(c)
           and not DET_TEACHER.match(c)]
LOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')
#: largest image side after shrinking, per task
TARGET_SIDE = dict(mmpretrain=40, mmdet=64)
#: backbones whose classifier fixes the input side (mmpretrain's VGG has
#: fully connected layers on a 7 x 7 map)
MIN_INPUT_SIDE = {'VGG': 224}
#: keys of resize / crop / pad transforms that hold pixel sizes
SIZE_KEYS = ('scale', 'scales', 'crop_size', 'size', 'img_scale')
#: the DOTA detection configs are tested on the unsplit images (different
#: sizes; DOTADataset reads both layouts), trained on the split patches
TEST_ROOT_OVERRIDES = {'data/DOTA_split': 'data/DOTA'}


@pytest.fixture(scope='module', autouse=True)
def fast_mmengine():
    """Two costs of mmengine that do not depend on the config under test,
    paid here once instead of per config (about 1.5 s per config
    otherwise): yapf formatting of every config text the Runner logs, dumps
    and stores (the text is kept as mmengine writes it before formatting:
    valid Python that the tools load back) and ``collect_env``
    (subprocesses, per Runner)."""
    from mmengine.config import config as config_module
    from mmengine.runner import runner as runner_module
    env = runner_module.collect_env()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(config_module, 'FormatCode',
                   lambda text, **kwargs: (text, False))
        mp.setattr(runner_module, 'collect_env', lambda: dict(env))
        yield


def tool(name: str):
    """``tools/<name>.py`` as a module (its ``main(argv)`` is the CLI)."""
    return importlib.import_module(f'tools.{name}')


# --------------------------------------------------------------- data --- #
def _scene(name: str):
    return lambda path, tree: layouts.write_scene_set(path, name)


def _dota(path: str, tree: 'DataTree') -> None:
    layouts.write_dota(path, {
        'train': [(230, 150), (180, 300), (260, 170), (150, 240)],
        'val': [(300, 180), (160, 220)]})


def _dota_split(path: str, tree: 'DataTree') -> None:
    split = tool('dataset_converters.dota_split')
    for part in ('train', 'val'):
        split.main([tree.path('data/DOTA', part), osp.join(path, part),
                    '--size', '128', '--gap', '32', '--nproc', '1'])


def _dota_cls(path: str, tree: 'DataTree') -> None:
    tool('dataset_converters.dota_to_cls').main(
        [tree.path('data/DOTA', 'train'), path])


def _airbus(path: str, tree: 'DataTree') -> None:
    """The Airbus sample -> DOTA layout -> patches, as configs/_base_/
    datasets/airbus_det.py describes (at a smaller patch size)."""
    raw, dota = tree.path('airbus_aircraft'), tree.path('data/airbus_dota')
    layouts.write_airbus(raw, {'train': [(420, 300), (300, 380)],
                               'valid': [(360, 280), (280, 330)]})
    tool('dataset_converters.airbus_to_dota').main([raw, dota])
    split = tool('dataset_converters.dota_split')
    for src, dst, extra in (('train', 'train', ['--skip-empty']),
                            ('valid', 'val', [])):
        split.main([osp.join(dota, src), osp.join(path, dst), '--size',
                    '128', '--gap', '0', '--rates', '0.5', '--nproc', '1',
                    *extra])


#: config ``data_root`` (relative to the working directory) -> writer, in
#: the order they are built (DOTA before what is converted from it)
DATA_ROOTS = {
    'data/NWPU-RESISC45': _scene('NWPU-RESISC45'),
    'data/AID': _scene('AID'),
    'data/UCMerced_LandUse/Images': _scene('UCMerced_LandUse'),
    'data/RSSCN7': _scene('RSSCN7'),
    '../shared/data/RSSCN7_256': _scene('RSSCN7'),
    'data/RSOD': _scene('RSOD'),
    'data/demo_scenes': lambda path, tree: make_demo_scenes(
        path, per_class=3, size=32),
    'data/NWPU VHR-10 dataset': lambda path, tree: layouts.write_nwpu_vhr10(
        path, [(230, 150), (150, 240), (300, 180), (170, 260), (260, 200),
               (190, 300)]),
    'data/DOTA': _dota,
    'data/DOTA_split': _dota_split,
    'data/DOTA_cls': _dota_cls,
    'data/airbus_256': _airbus,
}


class DataTree:
    """Generated datasets under ``<root>/cwd/<data_root>`` for every
    ``data_root`` of :data:`DATA_ROOTS`; ``root`` has a space in it."""

    def __init__(self, root: str):
        self.cwd = osp.join(root, 'cwd')
        for data_root, write in DATA_ROOTS.items():
            write(self.path(data_root), self)

    def path(self, *parts: str) -> str:
        return osp.normpath(osp.join(self.cwd, *parts))

    def locate(self, data_root: str, config: str) -> str:
        key = osp.normpath(data_root)
        assert key in map(osp.normpath, DATA_ROOTS), (
            f'{config}: no generated data for data_root "{data_root}"; add '
            'a writer for its layout to DATA_ROOTS (mmrskd/testing/'
            'layouts.py).')
        return self.path(key) + '/'


@pytest.fixture(scope='module')
def data_tree(tmp_path_factory) -> DataTree:
    return DataTree(str(tmp_path_factory.mktemp('real layouts')))


@pytest.fixture(scope='module')
def teacher_ckpts(tmp_path_factory) -> Callable[[str], str]:
    """``teacher_cfg`` -> checkpoint path, written once per teacher config
    (the checkpoint of a teacher "trained elsewhere")."""
    cache: Dict[str, str] = {}
    folder = tmp_path_factory.mktemp('teachers elsewhere')

    def get(teacher_cfg: str) -> str:
        if teacher_cfg not in cache:
            name = osp.splitext(osp.basename(teacher_cfg))[0]
            cache[teacher_cfg] = save_runner_checkpoint(
                teacher_cfg, str(folder / f'{name}_epoch_12.pth'))
        return cache[teacher_cfg]

    yield get
    shutil.rmtree(folder, ignore_errors=True)  # up to 2 GB of teachers


# ------------------------------------------------------------- config --- #
def transforms(pipeline: list) -> Iterator[dict]:
    """Every transform dict of a pipeline, nested ones included
    (TestTimeAug, RandomApply, RandomChoice...)."""
    for t in pipeline:
        if isinstance(t, (list, tuple)):
            yield from transforms(t)
        elif isinstance(t, dict):
            yield t
            for key in ('transforms', 'policies'):
                if isinstance(t.get(key), (list, tuple)):
                    yield from transforms(t[key])


def pixel_sizes(value) -> List[int]:
    """The integer pixel sizes inside a size value (int or nested tuples);
    floats are ratios and stay out."""
    if isinstance(value, bool):
        return []
    if isinstance(value, int):
        return [value]
    if isinstance(value, (list, tuple)):
        return [v for x in value for v in pixel_sizes(x)]
    return []


def rescale(value, factor: float):
    """``value`` with every integer pixel size multiplied by ``factor``."""
    if isinstance(value, bool) or isinstance(value, float):
        return value
    if isinstance(value, int):
        return max(8, int(round(value * factor)))
    if isinstance(value, (list, tuple)):
        return type(value)(rescale(v, factor) for v in value)
    return value


@functools.lru_cache(maxsize=None)
def teacher_model(teacher_cfg: str) -> ConfigDict:
    """The ``model`` of a teacher config file (loaded once)."""
    return Config.fromfile(teacher_cfg).model


def model_types(model: dict) -> Iterator[str]:
    """Every ``type`` in a model config, and in its teacher's config file."""
    for key, value in model.items():
        if key == 'type':
            yield str(value)
        elif key == 'teacher_cfg' and value:
            yield from model_types(teacher_model(value))
        elif isinstance(value, dict):
            yield from model_types(value)


def shrink_pipelines(cfg: Config, datasets: List[dict]) -> float:
    """Scale every resize / crop / pad size of the datasets' pipelines by
    one factor so the largest is ``TARGET_SIDE`` (not below a backbone's
    fixed input side). Returns the factor."""
    sized = {id(t): t for d in datasets
             for t in transforms(d.get('pipeline', []))
             if any(k in t for k in SIZE_KEYS)}.values()  # shared: once
    sizes = [s for t in sized for k in SIZE_KEYS for s in pixel_sizes(
        t.get(k))]
    if not sizes:
        return 1.0
    factor = TARGET_SIDE[cfg.default_scope] / max(sizes)
    floor = max([MIN_INPUT_SIDE.get(t, 0) for t in model_types(cfg.model)])
    factor = max(factor, floor / min(sizes))
    for t in sized:
        for key in SIZE_KEYS:
            if key in t:
                t[key] = rescale(t[key], factor)
    return factor


def point_loaders(cfg: Config, name: str, tree: DataTree) -> None:
    """Generated data, batch 2, no workers; 4 training images (one epoch of
    2 iterations) and at most 4 test images."""
    seen = set()
    for field in LOADERS:
        loader = cfg.get(field)
        if not loader or id(loader) in seen:
            continue
        seen.add(id(loader))
        dataset = innermost_dataset(loader.dataset)
        data_root = dataset.data_root
        if field != 'train_dataloader':
            data_root = TEST_ROOT_OVERRIDES.get(
                osp.normpath(data_root), data_root)
        dataset.data_root = tree.locate(data_root, name)
        dataset.indices = 4
        dataset.serialize_data = False  # skips a gc.collect() per dataset
        loader.batch_size = 2
        loader.num_workers = 0
        loader.persistent_workers = False
    for ev in as_list(cfg.get('test_evaluator')):
        if ev.get('ann_dir'):  # DOTATask2Metric: the full images' labelTxt
            ev.ann_dir = tree.path(ev.ann_dir) + '/'


def as_list(evaluators) -> list:
    """An evaluator config (one dict or a list of them) as a list."""
    if evaluators is None:
        return []
    return [evaluators] if isinstance(evaluators, dict) else evaluators


def small_config(name: str, tree: DataTree, teacher_ckpts,
                 work_dir: str) -> Tuple[str, Config]:
    """Load ``configs/<name>``, make it small and fast, dump it to
    ``work_dir``; returns the dumped path and the config."""
    cfg = Config.fromfile(osp.join(ROOT, 'configs', name))
    point_loaders(cfg, name, tree)
    shrink_pipelines(cfg, [innermost_dataset(cfg[f].dataset)
                           for f in LOADERS if cfg.get(f)])
    cfg.train_cfg.max_epochs = 1
    cfg.default_hooks.logger.interval = 1
    # two iterations leave every score under the detectors' thresholds;
    # keep all boxes so the metrics see predictions
    for holder in dicts_with(cfg.model, 'score_thr'):
        holder.score_thr = 0.0
    if cfg.model.get('teacher_cfg'):
        cfg.model.teacher_ckpt = teacher_ckpts(cfg.model.teacher_cfg)
    path = osp.join(work_dir, osp.basename(name))
    cfg.dump(path)
    return path, cfg


def dicts_with(node, key: str) -> Iterator[ConfigDict]:
    """Every dict inside ``node`` (nested) that has ``key``."""
    if isinstance(node, dict):
        if key in node:
            yield node
        for value in node.values():
            yield from dicts_with(value, key)
    elif isinstance(node, (list, tuple)):
        for value in node:
            yield from dicts_with(value, key)


def expected_metrics(cfg: Config) -> Dict[str, tuple]:
    """Metric key -> allowed range, from the config's test evaluator."""
    keys = {}
    for ev in as_list(cfg.test_evaluator):
        prefix = ev.get('prefix')
        if ev.type == 'Accuracy':
            topk = ev.get('topk', (1, ))
            for k in (topk if isinstance(topk, (list, tuple)) else [topk]):
                keys[f'accuracy/top{k}'] = (0, 100)
        elif ev.type == 'VOCMetric':
            keys[f'{prefix or "pascal_voc"}/mAP'] = (0, 1)
        elif ev.type == 'CocoMetric':
            keys[f'{prefix or "coco"}/bbox_mAP'] = (0, 1)
            keys[f'{prefix or "coco"}/bbox_mAP_50'] = (0, 1)
        elif ev.type == 'DOTATask2Metric':
            keys[f'{prefix or "dota"}/mAP'] = (0, 1)
        else:
            raise AssertionError(f'no expected keys for evaluator {ev.type}')
    return keys


# -------------------------------------------------------------- tests --- #
def _load_config(config: str) -> dict:
    """``configs/<config>`` as a plain dict, its file name left out."""
    cfg = Config.fromfile(osp.join(ROOT, 'configs', config)).to_dict()
    cfg.pop('filename', None)
    return cfg


def test_every_config_is_covered():
    from pathlib import Path
    configs = Path(ROOT, 'configs')  # counted another way than the glob
    assert set(ALL_CONFIGS) == {
        str(p.relative_to(configs)) for p in configs.rglob('*.py')
        if '_base_' not in p.relative_to(configs).parts}
    # the sub-folders' configs are covered too
    assert {'rsscn7_cpu', 'airbus', 'demo'} <= {osp.dirname(c)
                                                for c in ALL_CONFIGS}
    assert not any('_base_' in c for c in ALL_CONFIGS)
    skipped = sorted(set(ALL_CONFIGS) - set(CONFIGS))
    from . import test_rotated, test_rotated_distill
    rotated = test_rotated.CONFIGS + test_rotated_distill.CONFIGS + \
        tuple(test_rotated_distill.COVERED)
    assert len(skipped) == 33 + 8 + 8 + 24 + 2 + len(set(rotated)) + 15 + \
        9 + 3 + 5 + 6, skipped
    for name in skipped:  # each has the two configs that cover it
        if ROTATED.match(name):
            assert osp.join('configs', name) in rotated
        elif SPLIT_55.match(name):  # its 8:2 config, trained or covered
            ref = f'{SPLIT_55.match(name).group(1)}.py'
            assert ref in CONFIGS or ref in ALL_CONFIGS and (
                BASELINE.match(ref) or CLS_STUDENT.match(ref))
        elif name in VGG_RSOD:
            assert VGG_RSOD[name] in CONFIGS
            assert 'resnet34_rsod.py' in CONFIGS
        elif DET_STUDENT.match(name):
            folder, family, data = DET_STUDENT.match(name).groups()
            r50 = f'{folder}{family}_r50_fpn_{data}.py'
            assert r50 in CONFIGS or DET_TEACHER.match(r50)
            assert f'{folder}dynkd_{family}_r50_r18_{data}.py' in CONFIGS
        elif name in ISDM_ABLATION:
            assert 'isdm_r34_r18_ucm.py' not in CONFIGS  # covered, by
            assert 'kd_r34_r18_ucm.py' in CONFIGS  # KD's and ISDM's
            assert 'rsscn7_cpu/isdm_r34_r18w8_rsscn7_cpu.py' in CONFIGS
        elif DET_TEACHER.match(name):
            family, data = DET_TEACHER.match(name).groups()
            dynkd = f'dynkd_{family}_r50_r18_{data}.py'
            assert dynkd in CONFIGS
            assert f'airbus/{family}_r50_fpn_airbus.py' in CONFIGS
            assert _load_config(dynkd)['model']['teacher_cfg'] == osp.join(
                ROOT, 'configs', name)
        elif CLS_STUDENT.match(name):
            data = CLS_STUDENT.match(name).group(1)
            assert f'resnet34_{data}.py' in CONFIGS
            assert data == 'rsod' or f'kd_r34_r18_{data}.py' in CONFIGS
        elif BASELINE.match(name):
            method, data = BASELINE.match(name).groups()
            assert f'kd_r34_r18_{data}.py' in CONFIGS
            assert f'rsscn7_cpu/{method}_r34_r18w8_rsscn7_cpu.py' in CONFIGS
        else:
            method, family, data = DET_BASELINE.match(name).groups()
            folder = 'airbus/' if data == 'airbus' else ''
            assert f'{folder}dynkd_{family}_r50_r18_{data}.py' in CONFIGS
            assert f'airbus/{method}_retinanet_r50_r18_airbus.py' in CONFIGS
            assert f'airbus/dynkd_{family}_r50_r18_airbus.py' in CONFIGS


@pytest.mark.parametrize('name', [c for c in ALL_CONFIGS
                                  if DET_STUDENT.match(c)])
def test_det_students_are_the_teacher_with_r18(name):
    """A detection student config is its family's R50 config with a
    ResNet-18, which the family's dynamic-KD config distils (conftest's
    check_r18_student)."""
    folder, family, data = DET_STUDENT.match(name).groups()
    check_r18_student(f'configs/{folder}{family}_r50_fpn_{data}.py',
                      f'configs/{name}',
                      f'configs/{folder}dynkd_{family}_r50_r18_{data}.py')


@pytest.mark.parametrize('name', [c for c in ALL_CONFIGS
                                  if SPLIT_55.match(c)])
def test_split_configs_are_the_8_2_ones_at_0_5(name):
    """A 5:5 split config is its 8:2 config with train_ratio 0.5 in every
    dataloader and, for a distiller, the 5:5 teacher's config and
    checkpoint."""
    cfg, ref = _load_config(name), _load_config(
        f'{SPLIT_55.match(name).group(1)}.py')
    for key in LOADERS:
        assert cfg[key]['dataset'].pop('train_ratio') == 0.5
        assert ref[key]['dataset'].pop('train_ratio') == 0.8
    model, ref_model = cfg['model'], ref['model']
    if 'teacher_cfg' in model:
        assert model.pop('teacher_cfg') == \
            ref_model.pop('teacher_cfg').replace('.py', '_5-5.py')
        assert model.pop('teacher_ckpt') == \
            ref_model.pop('teacher_ckpt').replace('/epoch', '_5-5/epoch')
    assert cfg == ref


@pytest.mark.parametrize('name', sorted(VGG_RSOD))
def test_rsod_vgg_configs_are_the_aid_ones_on_rsod(name):
    """The RSOD VGG configs: the AID config's model (RSOD's class count,
    teacher and checkpoint paths aside) with resnet34_rsod.py's data."""
    from mmengine.config import Config

    def load(config):
        return Config.fromfile(osp.join(ROOT, 'configs', config)).to_dict()

    cfg, aid, data = load(name), load(VGG_RSOD[name]), \
        load('resnet34_rsod.py')
    for key in cfg:
        if key == 'model':
            continue
        assert cfg[key] == (data[key] if key in data else aid[key]), key
    model, ref = cfg['model'], aid['model']
    classes = data['model']['head']['num_classes']
    if 'student' in model:
        assert model['student']['head'].pop('num_classes') == classes
        ref['student']['head'].pop('num_classes')
        for key in ('teacher_cfg', 'teacher_ckpt'):
            assert 'rsod' in model.pop(key) and 'aid' in ref.pop(key)
    else:
        assert model['backbone'].pop('num_classes') == classes
        ref['backbone'].pop('num_classes')
    assert model == ref


@pytest.mark.parametrize('name', [c for c in ALL_CONFIGS
                                  if _det_baseline_covered(c)])
def test_det_baseline_configs_are_dynkd_with_other_losses(name):
    """A detection baseline's config is dynamic KD's config of its family
    and dataset with the method's loss instead of GD/ISD/TSA: the loss its
    Airbus RetinaNet config trains with, at its family's settings."""
    from mmengine.config import Config
    method, family, data = DET_BASELINE.match(name).groups()

    def load(config):
        return Config.fromfile(osp.join(ROOT, 'configs', config)).to_dict()

    cfg = load(name)
    folder = 'airbus/' if data == 'airbus' else ''
    dynkd = load(f'{folder}dynkd_{family}_r50_r18_{data}.py')
    airbus = load(f'airbus/{method}_retinanet_r50_r18_airbus.py')
    settings = {k: v for k, v in airbus.items()
                if k.startswith(f'{method}_loss')}
    assert len(settings) == 3  # RetinaNet's and the other two families'
    for key, value in settings.items():
        assert cfg.pop(key) == value
    loss = settings[f'{method}_loss{DET_FAMILY_LOSS[family]}']
    assert loss['type'] == airbus['model']['distill_losses'][
        f'loss_{method}']['type']
    assert (cfg['model'].pop('gd'), cfg['model'].pop('isd'),
            cfg['model'].pop('tsa')) == (None, None, None)
    assert cfg['model'].pop('distill_losses') == {f'loss_{method}': loss}
    for key in ('gd', 'isd', 'tsa', 'distill_losses'):
        dynkd['model'].pop(key, None)
    assert cfg == dynkd


@pytest.mark.parametrize('name', [c for c in ALL_CONFIGS
                                  if BASELINE.match(c)])
def test_baseline_configs_are_kd_with_other_losses(name):
    """A baseline's (or DKD's, ISDM's) paper-dataset config is the KD config
    of the dataset with the method's losses (its _base_/distill file's; CRD
    adds the training set's size)."""
    method, data = BASELINE.match(name).groups()

    cfg, kd = _load_config(name), _load_config(f'kd_r34_r18_{data}.py')
    base = _load_config(
        osp.join('_base_', 'distill', f'{method}_r34_r18.py'))
    losses = cfg['model'].pop('distill_losses')
    kd['model'].pop('distill_losses')
    assert cfg == kd
    expected = base['model']['distill_losses']
    if method == 'crd':
        sizes = dict(nwpu=45 * 560, aid=8000, ucm=21 * 80)
        expected['loss_crd']['num_samples'] = sizes[data]
    assert losses == expected


@pytest.mark.parametrize('name', sorted(ISDM_ABLATION))
def test_isdm_ablations_are_the_ucm_config_with_loss_options(name):
    """An ISDM ablation is isdm_r34_r18_ucm.py with its loss options and
    nothing else; the loss builds with them and gives a finite loss and
    gradient (the RSSCN7 ISDM config trains the loss with its defaults)."""
    from mmengine.registry import DefaultScope
    from mmpretrain.registry import MODELS
    cfg, ref = _load_config(name), _load_config('isdm_r34_r18_ucm.py')
    loss = cfg['model']['distill_losses'].pop('loss_isdm')
    ref_loss = ref['model']['distill_losses'].pop('loss_isdm')
    assert cfg == ref
    assert loss == {**ref_loss, **ISDM_ABLATION[name]}
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        module = MODELS.build(loss)
    torch.manual_seed(0)
    student = torch.randn(4, 21, requires_grad=True)
    value = module(student, torch.randn(4, 21), torch.tensor([0, 3, 7, 20]))
    total = sum(value.values()) if isinstance(value, dict) else value
    total.backward()
    assert torch.isfinite(total) and total > 0
    assert torch.isfinite(student.grad).all() and student.grad.abs().sum() > 0


@pytest.mark.parametrize('name', [c for c in ALL_CONFIGS
                                  if CLS_STUDENT.match(c)])
def test_scene_students_are_the_teacher_with_r18(name):
    """A scene student config is the dataset's ResNet-34 config with a
    ResNet-18, nothing else, and the dataset's KD config (where there is
    one) distils exactly that model with the same data, schedule and
    runtime."""
    data = CLS_STUDENT.match(name).group(1)
    student, teacher = _load_config(name), _load_config(
        f'resnet34_{data}.py')
    assert teacher['model']['backbone'].pop('depth') == 34
    assert student['model']['backbone'].pop('depth') == 18
    assert student == teacher
    if data == 'rsod':
        return
    kd = _load_config(f'kd_r34_r18_{data}.py')
    student['model']['backbone']['depth'] = 18
    assert kd.pop('model')['student'] == student.pop('model')
    hooks = student.pop('custom_hooks', [])  # the distiller's own: export
    assert kd.pop('custom_hooks') == hooks + [dict(type='ExportStudentHook')]
    assert kd == student


@pytest.mark.parametrize('name', CONFIGS)
def test_config_trains_and_tests_with_the_tools(name, data_tree,
                                                teacher_ckpts, tmp_path):
    work = str(tmp_path / 'work dir')
    try:
        train_and_test(name, data_tree, teacher_ckpts, str(tmp_path), work)
    finally:  # checkpoints of up to 1.1 GB (VGG-16 with SGD momentum)
        shutil.rmtree(work, ignore_errors=True)


def train_and_test(name: str, data_tree: DataTree, teacher_ckpts,
                   tmp_dir: str, work: str) -> None:
    """Train ``configs/<name>`` with tools/train.py and test the checkpoint
    with tools/test.py; check the run and the metrics."""
    path, cfg = small_config(name, data_tree, teacher_ckpts, tmp_dir)
    tool('train').main([path, '--work-dir', work, '--no-validate'])

    ckpt = osp.join(work, 'epoch_1.pth')
    state = torch.load(ckpt, map_location='cpu', weights_only=True)
    assert (state['meta']['epoch'], state['meta']['iter']) == (1, 2)
    losses = state['message_hub']['log_scalars']['train/loss'].data[0]
    assert len(losses) == 2 and all(map(math.isfinite, losses)), losses
    if 'teacher_ckpt' in cfg.model:
        assert not any('teacher' in k for k in state['state_dict'])
        assert osp.isfile(osp.join(work, 'student_final.pth'))

    metrics = tool('test').main([path, ckpt, '--work-dir', work])
    for key, (lo, hi) in expected_metrics(cfg).items():
        assert key in metrics, (key, metrics)
        assert lo <= metrics[key] <= hi, (key, metrics)
    assert all(math.isfinite(v) for v in metrics.values()
               if isinstance(v, float)), metrics


def test_generated_data_has_the_real_layouts(data_tree):
    """The writers give what the downloads and converters give, with
    images of several non-square sizes where the real sets vary."""
    nwpu = data_tree.path('data/NWPU-RESISC45')
    assert sorted(os.listdir(nwpu)) == sorted(layouts.NWPU_RESISC45_FOLDERS)
    sizes = layouts.image_sizes(osp.join(nwpu, 'airplane'))
    assert list(sizes) == ['airplane_001.jpg', 'airplane_002.jpg',
                           'airplane_003.jpg']
    assert len(set(sizes.values())) == 3
    assert all(w != h for w, h in sizes.values())
    assert sorted(os.listdir(data_tree.path(
        'data/UCMerced_LandUse/Images/agricultural'))) == [
            'agricultural00.tif', 'agricultural01.tif', 'agricultural02.tif']
    assert sorted(os.listdir(data_tree.path('data/RSOD/aircraft'))) == [
        'Annotation', 'JPEGImages']
    vhr = data_tree.path('data/NWPU VHR-10 dataset')
    assert sorted(os.listdir(vhr)) == ['ground truth', 'negative image set',
                                       'positive image set']
    assert len(set(layouts.image_sizes(
        osp.join(vhr, 'positive image set')).values())) == 6
    with open(osp.join(vhr, 'ground truth', '001.txt')) as f:
        assert f.readline().startswith('(')
    dota = data_tree.path('data/DOTA/train')
    assert len(set(layouts.image_sizes(osp.join(dota, 'images')).values())) \
        == 4
    with open(osp.join(dota, 'labelTxt', 'P0000.txt')) as f:
        assert f.read().startswith('imagesource:GoogleEarth\ngsd:0.146')
    patches = os.listdir(data_tree.path('data/DOTA_split/train/images'))
    assert 'P0000__1__0___0.png' in patches and len(patches) > 4
    crops = data_tree.path('data/DOTA_cls')
    assert set(os.listdir(crops)) == {'manifest.csv', *DOTA_V1_CLASSES}
    assert os.listdir(data_tree.path('data/airbus_256/val/images'))


def test_detection_batches_mix_image_sizes(data_tree, teacher_ckpts,
                                           tmp_path):
    """The shrunk NWPU VHR-10 loader still batches images of different
    sizes (the case that broke ``tools/train.py``), so the runs above cover
    it."""
    from mmengine.registry import DefaultScope
    from mmengine.runner import Runner
    _, cfg = small_config('retinanet_r18_fpn_nwpu-vhr10.py', data_tree,
                          teacher_ckpts, str(tmp_path))
    with DefaultScope.overwrite_default_scope('mmdet'):
        loader = Runner.build_dataloader(cfg.train_dataloader, seed=0)
        batches = [[tuple(img.shape[1:]) for img in batch['inputs']]
                   for batch in loader]
    assert len(batches) == 2, batches
    for sizes in batches:  # (h, w): longer side 64, the other shorter
        assert len(sizes) == 2 and sizes[0] != sizes[1], batches
        assert all(max(s) == 64 and min(s) < 64 for s in sizes), batches


def test_layout_writers_name_what_is_wrong(tmp_path):
    with pytest.raises(KeyError, match=r"Unknown scene set 'NWPU'; known: "
                       r"\['NWPU-RESISC45', 'AID'"):
        layouts.write_scene_set(str(tmp_path), 'NWPU')
    folder = tmp_path / 'taken.png'  # a folder where the image should go
    folder.mkdir()
    img = layouts.draw_image(np.random.RandomState(0), (8, 6))
    assert img.shape == (6, 8, 3)
    with pytest.raises(RuntimeError,
                       match=re.escape(f'Could not write image "{folder}"')):
        layouts.write_image(str(folder), img)
