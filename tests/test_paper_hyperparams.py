"""The papers' hyper-parameters, pinned.

Every paper config (the top level of configs/; the CPU-protocol, Airbus and
demo variants in its sub-folders change the recipe on purpose) is loaded
with mmengine's ``Config.fromfile`` (nothing is built or trained) and
compared with the tables below. Each expected value names where it comes
from: docs/methods.md for the methods (the formulas' defaults and the
configs' settings it states), README.md and docs/benchmarks.md for the
papers' training recipe. A value a loss config leaves out is the loss's own
default, read from its registered class, so changing a default is caught
too.
"""
import functools
import glob
import inspect
import os.path as osp
import re
from typing import Any, Dict

import pytest
from mmengine.config import Config, ConfigDict
from mmpretrain.registry import MODELS

import mmrskd  # noqa: F401  (registers the losses)

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
TOP_LEVEL = sorted(
    osp.basename(p) for p in glob.glob(osp.join(ROOT, 'configs', '*.py')))

# ----------------------------------------------------- training recipe
#: README.md, "Config names": "The papers' schedule is in
#: configs/_base_/schedules/rs_sgd_200e.py (SGD 0.1, momentum 0.9, wd 5e-4,
#: 200 epochs, x0.1 at 60/120/160, batch 64)".
SCENE_SCHEDULE = dict(optimizer='SGD', lr=0.1, momentum=0.9,
                      weight_decay=5e-4, scheduler='MultiStepLR',
                      milestones=[60, 120, 160], gamma=0.1, max_epochs=200,
                      batch_size=64)
#: README.md, "Datasets": "train_ratio=0.8 is the papers' 8:2 protocol,
#: 0.5 the 5:5 one"; "Config names": ``[_{split}]``, e.g. ``_5-5``.
TRAIN_RATIO = {'_5-5': 0.5, '': 0.8}
#: Side of the (square) training and test input, in pixels.
INPUT_SIDE = {
    # docs/benchmarks.md: "The paper's setting (45 classes on
    # NWPU-RESISC45, 224 px, ...)"; configs/methods/isdm.md: "NWPU-RESISC45,
    # AID, UC Merced at 224 px"; docs/methods.md, "DKD with a G-Ghost
    # RegNet student": "Measured for AID at 224 px".
    'NWPURESISC45': 224, 'AID': 224, 'UCMerced': 224,
    # docs/methods.md, "DFT flip alignment": "on 64 px DOTA-v1.0 object
    # crops".
    'DOTACls': 64,
}
#: README.md, "Datasets": the scene datasets (folder per class).
SCENE_DATASETS = ('NWPURESISC45', 'AID', 'UCMerced', 'RSSCN7', 'RSOD')
#: README.md, "Config names":
#: ``{method}_{teacher}_{student}_{dataset}[_{split}][_{ablation}].py``.
SCENE_CONFIG = re.compile(
    r'_(nwpu|aid|ucm|rsscn7|rsod)(?P<split>_5-5)?(_(noIS|noDM|fm5))?\.py$')

# ------------------------------------------------------------ methods
LAYERS = ['layer1', 'layer2', 'layer3', 'layer4']
#: loss type -> {argument: value}; docs/methods.md, the section in the
#: comment above each row.
LOSSES: Dict[str, Dict[str, Any]] = {
    # "KD": L = T^2 mean KL(...), T = 4 (no weight in the formula);
    # "Logit standardization": logit_standardize "default False".
    'KDLoss': dict(temperature=4.0, loss_weight=1.0,
                   logit_standardize=False),
    # "DKD": "Defaults alpha 1, beta 8, T 4, warm-up 20".
    'DKDLoss': dict(alpha=1.0, beta=8.0, temperature=4.0, warmup_epochs=20,
                    warmup_iters=None, loss_weight=1.0,
                    logit_standardize=False),
    # "ISDM": "w_kd 4 (kd_weight), w_ent 0.1 (ent_weight), T 4", "m0 = 5",
    # "The default is therefore scaler_grad='regulariser'"; the former
    # name loss_weight is deprecated (left out: None).
    'ISDMLoss': dict(temperature=4.0, kd_weight=4.0, ent_weight=0.1,
                     margin_value=5.0, scaler_grad='regulariser',
                     logit_standardize=False, loss_weight=None),
    # "DIST": "Defaults beta = gamma = tau = 1", "which the configs use
    # (loss_weight=2)".
    'DISTLoss': dict(beta=1.0, gamma=1.0, temperature=1.0, loss_weight=2.0),
    # "NKD": "Defaults tau = 1, gamma = 1.5".
    'NKDLoss': dict(temperature=1.0, gamma=1.5, loss_weight=1.0),
    # "MLKD": "Over the temperatures T in (2, 3, 4, 5, 6)", teacher
    # confidence "at most its 50th percentile".
    'MLKDLoss': dict(temperatures=[2.0, 3.0, 4.0, 5.0, 6.0],
                     confidence_percentile=50.0),
    # "CTKD": "T = t_start + t_range * sigmoid(...), T in (1, 21)", "theta
    # starts at 1" (no init_temperature), "enters KD (default)", "over
    # N = 10 epochs (curriculum_epochs ...)".
    'CTKDLoss': dict(base='kd', t_start=1.0, t_range=20.0,
                     init_temperature=None, curriculum_epochs=10),
    # "WTTM": "Defaults gamma = 0.2 (T = 5) and beta = loss_weight = 4";
    # weighted (WTTM; "weighted=False" is plain TTM).
    'WTTMLoss': dict(gamma=0.2, loss_weight=4.0, weighted=True),
    # "FitNet": "the configs use layer2 and mdistiller's weight 100".
    'FitNetLoss': dict(loss_weight=100.0, inputs=[
        'student.backbone.layer2', 'teacher.backbone.layer2']),
    # "AT": "p = 2, beta 1000", "Configs: layer1..4".
    'ATLoss': dict(p=2.0, loss_weight=1000.0, inputs=[
        [f'student.backbone.{x}' for x in LAYERS],
        [f'teacher.backbone.{x}' for x in LAYERS]]),
    # "RKD": "weights 25 and 50, on the pooled embeddings
    # ('student.neck')".
    'RKDLoss': dict(distance_weight=25.0, angle_weight=50.0,
                    loss_weight=1.0,
                    inputs=['student.neck', 'teacher.neck']),
    # "CRD": "embeddings (128-d) of the pooled features", "16384
    # negatives", "'exact' mode: inputs=[..., 'sample_idx', 'labels']",
    # "t = 0.07", "momentum 0.5; weight 0.8".
    'CRDLoss': dict(feat_dim=128, nce_k=16384, nce_t=0.07, nce_mom=0.5,
                    loss_weight=0.8, inputs=['student.neck', 'teacher.neck',
                                             'sample_idx', 'labels']),
    # "ReviewKD": "after average pooling to 4, 2, 1", "Weight 1, no
    # warm-up (ImageNet)".
    'ReviewKDLoss': dict(pool_sizes=[4, 2, 1], loss_weight=1.0,
                         warmup_epochs=0),
    # "SDD": "pooled at scales 1, 2 and 4", "KD at T = 4", "weighted
    # beta = 2", "base='dkd' uses DKD" (KD otherwise).
    'SDDLoss': dict(scales=[1, 2, 4], temperature=4.0, beta=2.0, base='kd'),
    # "DFT flip alignment": "hard mode ... (default)", all the candidates,
    # "Wiring: inputs=['student.backbone.layer4',
    # 'teacher.backbone.layers.2']".
    'FlipAlignLoss': dict(mode='hard', transforms=None, inputs=[
        'student.backbone.layer4', 'teacher.backbone.layers.2']),
}
#: docs/methods.md, "ISDM": the switches "use_is, use_dm,
#: margin='dynamic'|'fixed'", "Fixed-margin ablation: m_i = m"; "Configs:
#: isdm_r34_r18_{nwpu,aid,ucm,rsscn7}[_5-5].py, ablations
#: isdm_r34_r18_ucm_{noIS,noDM,fm5}.py" (fm5: m = 5).
ISDM_SWITCHES = {
    '': dict(use_is=True, use_dm=True, margin='dynamic'),
    '_noIS': dict(use_is=False, use_dm=True, margin='dynamic'),
    '_noDM': dict(use_is=True, use_dm=False),
    '_fm5': dict(use_is=True, use_dm=True, margin='fixed'),
}
#: docs/methods.md, "Dynamic knowledge distillation for detectors": "the
#: top k_fg share (0.5) ... and the top k_bg share (0.1)", "gamma_max (1)",
#: "eta 1"; each of gd, isd, tsa on (None is an ablation).
DYNKD = dict(gd=dict(k_fg=0.5, k_bg=0.1), isd=dict(),
             tsa=dict(gamma_max=1.0, eta=1.0))
#: (student backbone, teacher backbone) as {key: value}; docs/methods.md:
#: "ISDM" and the baselines: "R34 -> R18" (``r34_r18`` in the names);
#: "DFT": "a ResNet-110 teacher (ResNetCIFAR, 6n+2 with n = 18 ...) and a
#: ResNet-18 student with the small-input stem (mmpretrain's
#: ResNet_CIFAR)"; "DKD with a G-Ghost RegNet student": "a VGG-16 (BN)
#: teacher", "regnetx_080 is the closest official one"; "Dynamic knowledge
#: distillation": "the teachers *_r50_fpn_*.py and the students alone
#: *_r18_fpn_*.py".
BACKBONES = {
    '_r34_r18_': (dict(type='ResNet', depth=18),
                  dict(type='ResNet', depth=34)),
    '_r110_r18_': (dict(type='ResNet_CIFAR', depth=18),
                   dict(type='ResNetCIFAR', depth=110)),
    '_vgg16_gghost_': (dict(type='GGhostRegNet', arch='regnetx_080'),
                       dict(type='VGG', depth=16, norm_cfg=dict(type='BN'))),
    '_r50_r18_': (dict(depth=18), dict(depth=50)),
}
#: docs/methods.md, the config names each section gives.
DOCUMENTED = (
    [f'isdm_r34_r18_{d}{s}.py' for d in ('nwpu', 'aid', 'ucm')
     for s in ('', '_5-5')] + ['isdm_r34_r18_rsscn7.py'] +
    [f'isdm_r34_r18_ucm_{a}.py' for a in ('noIS', 'noDM', 'fm5')] +
    [f'{m}_r34_r18_{d}.py' for m in ('dist', 'nkd', 'mlkd', 'ctkd', 'wttm',
                                     'fitnet', 'at', 'rkd', 'crd',
                                     'reviewkd', 'sdd')
     for d in ('nwpu', 'aid', 'ucm')] +
    ['dft_r110_r18_dota.py', 'kd_r110_r18_dota.py'] +
    [f'dkd_vgg16_gghost_{d}.py' for d in ('aid', 'rsod')] +
    [f'dynkd_{h}_r50_r18_{d}.py' for h in ('retinanet', 'faster-rcnn', 'fcos')
     for d in ('dota', 'nwpu-vhr10')])

#: docs/methods.md, "DFT flip alignment": "Config dft_r110_r18_dota.py",
#: "Baselines: resnet110_dota.py, resnet18_dota.py, kd_r110_r18_dota.py".
DOTA_CLS_CONFIGS = ['dft_r110_r18_dota.py', 'kd_r110_r18_dota.py',
                    'resnet110_dota.py', 'resnet18_dota.py']
#: the method's name starts the config's (README.md, "Config names").
METHOD = re.compile(r'^(kd|dkd|isdm|dist|nkd|mlkd|ctkd|wttm|fitnet|at|rkd'
                    r'|crd|reviewkd|sdd|dft)_')

SCENE_CONFIGS = [n for n in TOP_LEVEL if SCENE_CONFIG.search(n)]
SIZED_CONFIGS = [n for n in SCENE_CONFIGS
                 if re.search(r'_(nwpu|aid|ucm)[_.]', n)] + DOTA_CLS_CONFIGS
DISTILL_CONFIGS = [n for n in TOP_LEVEL if METHOD.match(n)]
MODEL_CONFIGS = [n for n in TOP_LEVEL if any(k in n for k in BACKBONES)]
DYNKD_CONFIGS = [n for n in TOP_LEVEL if n.startswith('dynkd_')]


@functools.lru_cache(maxsize=None)
def load(name: str) -> Config:
    return Config.fromfile(osp.join(ROOT, 'configs', name))


def plain(value):
    """Config values as plain lists and dicts (tuples become lists)."""
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, (dict, ConfigDict)):
        return {k: plain(v) for k, v in value.items()}
    return value


def loss_value(loss_cfg: dict, key: str):
    """The value a loss is built with: the config's, else the registered
    class's default (``inputs`` is the distiller's: None when absent)."""
    if key in loss_cfg:
        return plain(loss_cfg[key])
    if key == 'inputs':
        return None
    params = inspect.signature(MODELS.get(loss_cfg['type'])).parameters
    assert key in params, (loss_cfg['type'], key)
    return plain(params[key].default)


def test_documented_configs_are_pinned_here():
    """Every config docs/methods.md names ships and is in a test below."""
    assert set(DOCUMENTED) <= set(TOP_LEVEL), sorted(set(DOCUMENTED) -
                                                     set(TOP_LEVEL))
    for name in DOCUMENTED:
        assert name in DISTILL_CONFIGS or name in DYNKD_CONFIGS, name
        assert name in MODEL_CONFIGS, name
    assert set(DOTA_CLS_CONFIGS) <= set(TOP_LEVEL)
    assert 'isdm_r34_r18_nwpu.py' in SCENE_CONFIGS
    assert 'resnet34_aid_5-5.py' in SIZED_CONFIGS


@pytest.mark.parametrize('name', SCENE_CONFIGS)
def test_scene_configs_follow_the_papers_recipe(name):
    cfg = load(name)
    expect = SCENE_SCHEDULE
    optimizer = cfg.optim_wrapper.optimizer
    assert (optimizer.type, optimizer.lr, optimizer.momentum,
            optimizer.weight_decay) == (expect['optimizer'], expect['lr'],
                                        expect['momentum'],
                                        expect['weight_decay'])
    scheduler = cfg.param_scheduler
    assert isinstance(scheduler, dict), scheduler  # one scheduler, no warm-up
    assert (scheduler.type, plain(scheduler.milestones), scheduler.gamma,
            scheduler.get('by_epoch', True)) == (
                expect['scheduler'], expect['milestones'], expect['gamma'],
                True)
    assert cfg.train_cfg.max_epochs == expect['max_epochs']
    assert cfg.train_dataloader.batch_size == expect['batch_size']
    ratio = TRAIN_RATIO[SCENE_CONFIG.search(name).group('split') or '']
    for split in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        dataset = cfg[split].dataset
        assert dataset.type in SCENE_DATASETS, (split, dataset.type)
        assert dataset.train_ratio == ratio, (split, dataset.train_ratio)
        assert dataset.get('val_ratio', 0.0) == 0.0, split


def _input_side(pipeline) -> int:
    """The side of the image a pipeline hands to the model: its last crop,
    or its last square resize."""
    side = None
    for t in pipeline:
        size = t.get('crop_size') if 'Crop' in t['type'] else (
            t.get('scale') if t['type'] == 'Resize' else None)
        if size is not None:
            size = plain(size)
            w, h = (size, size) if isinstance(size, int) else size
            assert w == h, t
            side = w
    return side


@pytest.mark.parametrize('name', SIZED_CONFIGS)
def test_input_size(name):
    cfg = load(name)
    dataset_type = cfg.train_dataloader.dataset.type
    assert dataset_type in INPUT_SIDE, dataset_type
    for split in ('train_dataloader', 'test_dataloader'):
        side = _input_side(cfg[split].dataset.pipeline)
        assert side == INPUT_SIDE[dataset_type], (split, side)


@pytest.mark.parametrize('name', DISTILL_CONFIGS)
def test_distillation_losses_hold_the_methods_values(name):
    losses = load(name).model.distill_losses
    assert losses, name
    for key, loss_cfg in losses.items():
        assert loss_cfg.type in LOSSES, (key, loss_cfg.type)
        expected = dict(LOSSES[loss_cfg.type])
        if loss_cfg.type == 'ISDMLoss':
            suffix = re.search(r'(_noIS|_noDM|_fm5)?\.py$', name).group(1)
            expected.update(ISDM_SWITCHES[suffix or ''])
        got = {k: loss_value(loss_cfg, k) for k in expected}
        assert got == expected, (key, loss_cfg.type)


@pytest.mark.parametrize('name', DISTILL_CONFIGS)
def test_student_cross_entropy_weight_is_one(name):
    # docs/methods.md, "ISDM": "the student's CE from its head, weight 1";
    # "Distiller": mode='loss' returns "loss_cls (student CE ...)" unweighted.
    head = load(name).model.student.head
    assert head.loss.type == 'CrossEntropyLoss'
    assert head.loss.get('loss_weight', 1.0) == 1.0


@pytest.mark.parametrize('name', MODEL_CONFIGS)
def test_teacher_and_student_backbones(name):
    cfg = load(name)
    (key, ) = [k for k in BACKBONES if k in name]
    student, teacher = BACKBONES[key]
    if cfg.model.type not in ('ClsDistiller', 'DynamicDetDistiller'):
        pytest.skip('not a distiller')
    teacher_model = Config.fromfile(cfg.model.teacher_cfg).model
    for expected, backbone in ((student, cfg.model.student.backbone),
                               (teacher, teacher_model.backbone)):
        got = {k: plain(backbone.get(k)) for k in expected}
        assert got == expected, (name, backbone.type)


@pytest.mark.parametrize('name', DYNKD_CONFIGS)
def test_dynamic_detection_kd_values(name):
    model = load(name).model
    assert model.type == 'DynamicDetDistiller'
    for part, values in DYNKD.items():
        assert model.get(part) is not None, part
        got = {k: model[part].get(k) for k in values}
        assert got == values, (part, got)
