"""Oriented boxes (DOTA Task1) with the optional extra "rotated" (mmrotate):
the mmdet 3.3 shim in fresh processes, the message when the extra is
missing, the rotated configs (mmrotate's recipes plus the settings every
rotated config shares), the stop before a CPU run of an op without a CPU
kernel, the oriented polygons of the split patches, and rotated RetinaNet,
Oriented R-CNN and rotated FCOS trained and tested through tools/train.py
and tools/test.py on sparse generated DOTA patches.

Without the extra the tests that need mmrotate skip with the message a
rotated config stops with (the install command); the missing-extra tests
run either way, mmrotate's absence simulated."""
import importlib
import math
import os.path as osp
import re
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config

from mmrskd.testing import layouts
from mmrskd.utils.extras import (ROTATED_INSTALL, ROTATED_MISSING,
                                 MissingExtraError, mmrotate_installed,
                                 require_mmrotate)

from .conftest import check_r18_student

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
TEACHER = 'configs/rotated/retinanet_r50_fpn_le90_dota.py'
STUDENT = 'configs/rotated/retinanet_r18_fpn_le90_dota.py'
ORIENTED_RCNN = 'configs/rotated/oriented-rcnn_r50_fpn_le90_dota.py'
ROTATED_FCOS = 'configs/rotated/rotated-fcos_r50_fpn_le90_dota.py'
#: the R50 teacher of each family -> mmrotate's recipe it inherits, its
#: detector; each has an R18 student, ``..._r18_...``, the same otherwise
RECIPES = {
    TEACHER: ('rotated_retinanet/rotated-retinanet-rbox-le90_r50_fpn_1x_'
              'dota.py', 'RetinaNet'),
    ORIENTED_RCNN: ('oriented_rcnn/oriented-rcnn-le90_r50_fpn_1x_dota.py',
                    'FasterRCNN'),
    ROTATED_FCOS: ('rotated_fcos/rotated-fcos-hbox-le90_r50_fpn_1x_dota.py',
                   'FCOS'),
}
TEACHERS = tuple(RECIPES)
#: what every rotated config sets over its mmrotate recipe
SHARED = 'configs/_base_/rotated/mmrskd_dota.py'


def teacher_of(config: str) -> str:
    """The R50 config of ``config``'s family."""
    return config.replace('_r18_', '_r50_')


def student_of(config: str) -> str:
    """The R18 config of ``config``'s family."""
    return config.replace('_r50_', '_r18_')


#: the rotated configs; tests/test_every_config_e2e.py leaves them to this
#: file: the R50 ones train and test here
#: (test_rotated_configs_train_and_test_with_the_tools), each R18 one is its
#: R50 config with a ResNet-18 (test_students_are_the_teacher_with_r18),
#: the model and data that the family's dynamic-KD config trains and tests
#: as its student in tests/test_rotated_distill.py
CONFIGS = tuple(c for t in TEACHERS for c in (t, student_of(t)))


@pytest.fixture
def mmrotate():
    """mmrotate, or a skip that says how to install it."""
    return pytest.importorskip('mmrotate',
                               reason=f'This test {ROTATED_MISSING}')


@pytest.fixture
def no_mmrotate(monkeypatch):
    """mmrotate made unimportable (as if the extra were not installed)."""
    monkeypatch.setitem(sys.modules, 'mmrotate', None)


# ------------------------------------------------------ missing extra --- #
def test_missing_extra_names_the_install_command(no_mmrotate):
    assert not mmrotate_installed()
    with pytest.raises(MissingExtraError) as err:
        require_mmrotate('This')
    assert isinstance(err.value, ModuleNotFoundError)
    assert ROTATED_INSTALL in str(err.value) and 'make env' in str(err.value)


@pytest.mark.parametrize('config', CONFIGS)
def test_rotated_config_without_the_extra_stops_with_the_command(
        config, no_mmrotate):
    with pytest.raises(MissingExtraError) as err:
        Config.fromfile(osp.join(ROOT, config))
    text = str(err.value)
    assert text.endswith(ROTATED_MISSING), text
    assert f'inherits "mmrotate::{RECIPES[teacher_of(config)][0]}"' in text


def test_rotated_dataset_module_without_the_extra(no_mmrotate, monkeypatch):
    monkeypatch.delitem(sys.modules, 'mmrskd.datasets.rotated_dota',
                        raising=False)
    with pytest.raises(MissingExtraError,
                       match=r'^mmrskd\.datasets\.rotated_dota needs'):
        importlib.import_module('mmrskd.datasets.rotated_dota')


# --------------------------------------------------------------- shim --- #
SHIM_SCRIPT = '''
import sys
sys.path.insert(0, {root!r})
import numpy as np
import mmrskd  # noqa: F401  (installs the shim, as tools/*.py do)
from mmrotate.evaluation import DOTAMetric
from mmrotate.evaluation.functional import eval_rbbox_map

if __name__ == '__main__':
    DOTAMetric()
    box = np.array([[50., 40., 30., 12., 0.3]])
    det = [[np.hstack([box, [[0.9]]])]]
    gt = [dict(bboxes=box, labels=np.array([0]),
               bboxes_ignore=np.zeros((0, 5)), labels_ignore=np.zeros(0))]
    mean_ap, _ = eval_rbbox_map(det, gt, nproc=1)  # a spawned worker
    print('mAP', mean_ap)
'''


def test_shim_in_a_fresh_process_and_its_spawned_workers(mmrotate,
                                                          tmp_path):
    """A fresh interpreter imports mmrskd, then mmrotate's metrics, builds
    DOTAMetric and computes a mAP in a worker started with ``spawn`` (which
    re-imports the script, so mmrskd): no ImportError, no hang."""
    script = tmp_path / 'eval_rotated.py'
    script.write_text(SHIM_SCRIPT.format(root=ROOT))
    proc = subprocess.run([sys.executable, str(script)], cwd=str(tmp_path),
                          capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'mAP 1.0' in proc.stdout, proc.stdout[-2000:]


def test_shim_is_idempotent_and_leaves_coco_metric_alone():
    from mmdet import evaluation

    from mmrskd.compat import alias_faster_coco_metric
    alias_faster_coco_metric()
    alias_faster_coco_metric()
    assert evaluation.FasterCocoMetric is evaluation.CocoMetric
    assert evaluation.CocoMetric.__name__ == 'CocoMetric'


# ------------------------------------------------------------ configs --- #
@pytest.mark.parametrize('config', CONFIGS)
def test_rotated_configs_build(config, mmrotate):
    from mmengine.registry import DefaultScope

    from mmrskd.engine.hooks.cpu_ops_check_hook import gpu_only_parts
    from mmrskd.utils.model_config import is_detection, models_registry
    cfg = Config.fromfile(osp.join(ROOT, config))
    assert cfg.default_scope == 'mmrotate' and is_detection(cfg)
    backbone = cfg.model.backbone
    assert backbone.init_cfg is None and backbone.frozen_stages == -1
    assert backbone.depth == (50 if config in TEACHERS else 18)
    assert backbone.norm_eval is False
    assert not gpu_only_parts(cfg.model)  # every op has a CPU kernel
    assert cfg.val_evaluator.type == 'DOTAMetric'
    assert [ev.type for ev in cfg.test_evaluator] == [
        'mmdet.DOTATask1Metric', 'DOTAMetric']
    assert cfg.test_dataloader.dataset.diff_thr == 0
    assert cfg.train_dataloader.dataset.type == 'RotatedDOTADataset'
    with DefaultScope.overwrite_default_scope('mmrotate'):
        model = models_registry(cfg).build(cfg.model)
    assert type(model).__name__ == RECIPES[teacher_of(config)][1]
    head = model.roi_head.bbox_head if hasattr(model, 'roi_head') \
        else model.bbox_head
    assert head.num_classes == 15


@pytest.mark.parametrize('config', TEACHERS)
def test_rotated_configs_are_the_recipe_and_the_shared_settings(
        config, mmrotate, tmp_path):
    """Each family's config is mmrotate's recipe with the settings of
    configs/_base_/rotated/mmrskd_dota.py merged over it, nothing else:
    the key holding them is gone and every rotated config gets them."""
    recipe = tmp_path / 'recipe.py'
    recipe.write_text(f"_base_ = ['mmrotate::{RECIPES[config][0]}']\n")
    expected = Config.fromfile(str(recipe))
    shared = Config.fromfile(osp.join(ROOT, SHARED))
    assert list(shared.keys()) == ['mmrskd_rotated']
    expected.merge_from_dict(shared.mmrskd_rotated.to_dict())
    cfg = Config.fromfile(osp.join(ROOT, config))
    assert 'mmrskd_rotated' not in cfg
    assert cfg.to_dict() == expected.to_dict()


@pytest.mark.parametrize('config', TEACHERS)
def test_students_are_the_teacher_with_r18(config, mmrotate):
    """The R18 config of each family is its R50 config with a ResNet-18,
    which the family's dynamic-KD config distils (conftest's
    check_r18_student)."""
    family = osp.basename(config).split('_')[0]
    check_r18_student(config, student_of(config),
                      f'configs/rotated/dynkd_{family}_r50_r18_le90_dota.py')


def test_rotated_configs_use_mmrskds_runtime(mmrotate):
    """The runtime keys mmrskd adds are those of configs/_base_/
    det_runtime.py (restated: mmrotate's config brings its own runtime)."""
    cfg = Config.fromfile(osp.join(ROOT, TEACHER))
    det = Config.fromfile(osp.join(ROOT, 'configs/_base_/det_runtime.py'))
    assert cfg.custom_imports.imports[0] == 'mmrskd'
    assert cfg.randomness == det.randomness
    for hook in ('nan_guard', 'epoch_seed'):
        assert cfg.default_hooks[hook] == det.default_hooks[hook]
    assert cfg.visualizer.vis_backends == det.visualizer.vis_backends
    assert 'name' not in cfg.visualizer


#: a part of each family's mmrotate variants whose op has no CPU kernel in
#: mmcv 2.1 (where it goes in the model config) and what the error names
GPU_ONLY_VARIANTS = {
    TEACHER: ('bbox_head.loss_bbox', 'mmrotate.RotatedIoULoss',
              'RotatedIoULoss (diff_iou_rotated_2d)'),
    ORIENTED_RCNN: ('roi_head.bbox_roi_extractor.roi_layer',  # ReDet's
                    'RiRoIAlignRotated',
                    'RiRoIAlignRotated (riroi_align_rotated)'),
    ROTATED_FCOS: ('bbox_head.loss_bbox', 'RotatedIoULoss',  # mmrotate's
                   'RotatedIoULoss (diff_iou_rotated_2d)'),  # default
}


@pytest.mark.parametrize('config', TEACHERS)
def test_gpu_only_op_on_the_cpu_stops_before_training(config, mmrotate):
    """A rotated config with a part whose op has no CPU kernel is refused
    by CPUOpsCheckHook before the first iteration; the shipped ones
    pass."""
    from types import SimpleNamespace

    from mmrskd.engine.hooks import CPUOpsCheckHook
    cfg = Config.fromfile(osp.join(ROOT, student_of(config)))
    assert dict(type='CPUOpsCheckHook') in cfg.custom_hooks
    hook = CPUOpsCheckHook()
    hook.before_run(SimpleNamespace(model=torch.nn.Linear(1, 1), cfg=cfg))
    where, part, named = GPU_ONLY_VARIANTS[config]
    cfg.merge_from_dict({f'model.{where}': dict(type=part)})
    with pytest.raises(RuntimeError, match=re.escape(
            f'needs {named}: mmcv ops that have no CPU kernel in mmcv '
            '2.1.0')):
        hook.before_run(SimpleNamespace(model=torch.nn.Linear(1, 1),
                                        cfg=cfg))
    on_gpu = SimpleNamespace(model=torch.nn.Linear(1, 1, device='meta'),
                             cfg=cfg)
    hook.before_run(on_gpu)  # not on the CPU: nothing to check


def test_rotated_fcos_recipe_is_the_one_with_cpu_kernels(mmrotate,
                                                        tmp_path):
    """mmrotate's default rotated FCOS needs diff_iou_rotated_2d (CUDA
    only): the configs take its hbox variant, whose every op has a CPU
    kernel."""
    from mmrskd.engine.hooks.cpu_ops_check_hook import gpu_only_parts

    def parts(recipe: str) -> list:
        path = tmp_path / 'recipe.py'
        path.write_text(f"_base_ = ['mmrotate::rotated_fcos/{recipe}']\n")
        return gpu_only_parts(Config.fromfile(str(path)).model)

    assert parts('rotated-fcos-le90_r50_fpn_1x_dota.py') == [
        'RotatedIoULoss (diff_iou_rotated_2d)']
    assert parts('rotated-fcos-hbox-le90_r50_fpn_1x_dota.py') == []
    cfg = Config.fromfile(osp.join(ROOT, ROTATED_FCOS))
    assert cfg.model.bbox_head.use_hbbox_loss
    assert cfg.model.bbox_head.loss_bbox.type == 'mmdet.IoULoss'


def test_onnx_export_of_a_rotated_config_is_refused(mmrotate, tmp_path):
    from mmrskd.apis.export_onnx_det import export_detector_onnx
    with pytest.raises(ValueError, match='detects oriented boxes '
                       r'\(mmrotate\): their ONNX export is not supported'):
        export_detector_onnx(osp.join(ROOT, STUDENT), 'unused.pth',
                             str(tmp_path / 'model.onnx'))


# ---------------------------------------------------------------- data --- #
def test_split_patches_keep_the_oriented_polygons(tmp_path):
    """dota_split.py writes each object's polygon (rotated, as annotated)
    into the patch labelTxt, shifted by the patch offset."""
    from mmrskd.datasets.dota_labels import parse_dota_file
    from tools.dataset_converters.dota_split import main as split
    layouts.write_dota(str(tmp_path / 'DOTA'), {'val': [(150, 120)]},
                       objects_per_image=3)
    split([str(tmp_path / 'DOTA' / 'val'), str(tmp_path / 'patches'),
           '--size', '200', '--gap', '20', '--nproc', '1'])
    src = parse_dota_file(str(tmp_path / 'DOTA/val/labelTxt/P0000.txt'))
    out = parse_dota_file(str(tmp_path / 'patches/labelTxt/'
                              'P0000__1__0___0.txt'))
    inside = [o.poly for o in src.objects if min(o.poly) >= 0]
    assert inside and all(p in [o.poly for o in out.objects]
                          for p in inside)
    assert all(p[1] != p[3] for p in inside)  # not axis-aligned


def _write_patches(root: str) -> None:
    """Sparse DOTA-style patches: 3 rotated objects per image, 96 px
    patches cut from small unsplit images by dota_split.py."""
    from tools.dataset_converters.dota_split import main as split
    layouts.write_dota(osp.join(root, 'DOTA'), {
        'train': [(180, 120), (130, 170)], 'val': [(150, 110)]},
        objects_per_image=3)
    for part in ('train', 'val'):
        split([osp.join(root, 'DOTA', part), osp.join(root, 'split', part),
               '--size', '96', '--gap', '16', '--skip-empty', '--nproc', '1'])


def test_rotated_dataset_reads_the_patches(mmrotate, tmp_path):
    from mmengine.registry import DefaultScope
    from mmrotate.registry import DATASETS

    import mmrskd.datasets.rotated_dota  # noqa: F401
    _write_patches(str(tmp_path))
    with DefaultScope.overwrite_default_scope('mmrotate'):
        ds = DATASETS.build(dict(
            type='RotatedDOTADataset', data_root=str(tmp_path / 'split'),
            ann_file='val/labelTxt/', data_prefix=dict(img_path='val/'
                                                       'images/'),
            diff_thr=0, pipeline=[]))
    infos = [ds.get_data_info(i) for i in range(len(ds))]
    assert infos and all(i['img_path'].endswith('.png') for i in infos)
    objects = [o for i in infos for o in i['instances']]
    assert objects and all(len(o['bbox']) == 8 for o in objects)
    # write_dota makes the first object of an image difficult
    assert {o['ignore_flag'] for o in objects} == {0, 1}


# ---------------------------------------------------------------- e2e --- #
class SerialPool:
    """A stand-in for the worker pool of mmrotate's mAP: the spawned
    workers would re-import the main module, pytest's, which does not
    import mmrskd (the shim in workers is checked above)."""

    def __init__(self, processes=None):
        pass

    def starmap(self, func, iterable):
        return [func(*args) for args in iterable]

    def close(self):
        pass


def _small_config(config: str, data_root: str, ann_dir: str,
                  out: str) -> str:
    """``config`` on the generated patches: 64 px, batch 2, one epoch;
    the full images' labelTxt in ``ann_dir``. A distiller's student is made
    small the same way, and its teacher kept random (no checkpoint)."""
    cfg = Config.fromfile(osp.join(ROOT, config))
    cfg.test_evaluator[0].ann_dir = ann_dir
    for field in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        loader = cfg[field]
        loader.dataset.data_root = data_root
        loader.num_workers, loader.persistent_workers = 0, False
        loader.batch_size = 2
        for t in loader.dataset.pipeline:
            if t.type == 'mmdet.Resize':
                t.scale = (64, 64)
    cfg.train_cfg.max_epochs = 1
    cfg.default_hooks.logger.interval = 1
    model = cfg.model.get('student', cfg.model)
    test_cfg = model.test_cfg  # a two-stage detector's: rpn and rcnn
    test_cfg.get('rcnn', test_cfg).score_thr = 0.0  # untrained: low scores
    if 'rpn' in test_cfg:  # 100 proposals, not 2000, on 64 px (2x faster)
        test_cfg.rpn.max_per_img = 100
        model.train_cfg.rpn_proposal.max_per_img = 100
    if 'teacher_ckpt' in cfg.model:
        cfg.model.teacher_ckpt, cfg.model.allow_random_teacher = None, True
    cfg.dump(out)
    return out


def train_and_test(config: str, tmp_path, monkeypatch) -> tuple:
    """Train ``config`` one epoch on the generated patches with
    tools/train.py and test it with tools/test.py (DOTATask1Metric on the
    full images, DOTAMetric on the patches); returns the scalars the
    checkpoint logged and the test metrics."""
    from mmrotate.evaluation.functional import mean_ap
    monkeypatch.setattr(mean_ap, 'get_context',
                        lambda method: type('Ctx', (), dict(Pool=SerialPool)))
    _write_patches(str(tmp_path))
    path = _small_config(config, str(tmp_path / 'split') + '/',
                         str(tmp_path / 'DOTA' / 'val' / 'labelTxt'),
                         str(tmp_path / osp.basename(config)))
    work = str(tmp_path / 'work')
    importlib.import_module('tools.train').main(
        [path, '--work-dir', work, '--no-validate'])
    ckpt = osp.join(work, 'epoch_1.pth')
    state = torch.load(ckpt, map_location='cpu', weights_only=True)
    metrics = importlib.import_module('tools.test').main(
        [path, ckpt, '--work-dir', work])
    return state['message_hub']['log_scalars'], metrics


@pytest.mark.parametrize('config', TEACHERS)
def test_rotated_configs_train_and_test_with_the_tools(config, mmrotate,
                                                       tmp_path,
                                                       monkeypatch):
    """Each rotated config trains one epoch and tests with DOTATask1Metric
    (full images) and DOTAMetric (patches) through tools/train.py and
    tools/test.py."""
    scalars, metrics = train_and_test(config, tmp_path, monkeypatch)
    losses = scalars['train/loss'].data[0]
    assert len(losses) > 0 and all(map(math.isfinite, losses)), losses
    assert 0 <= metrics['dota/mAP'] <= 1, metrics  # Task1, full images
    assert 'patch_dota/AP50' in metrics
