"""docs/errors.md: every case is triggered here (or in the test it names)
and its quoted message fragment must match both the code and the page."""
import os
import os.path as osp
import re
import stat
import subprocess
import sys

import pytest
import torch

import mmrskd  # noqa: F401
from mmrskd.datasets import (DOTADataset, NWPUVHR10Dataset, RSOD,
                             CorruptImageError, RSSceneDataset)
from mmrskd.datasets.dota_labels import parse_dota_file

from .conftest import write_images

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
DOC = open(osp.join(ROOT, 'docs', 'errors.md')).read()


def _rsod(tmp_path, counts):
    root = tmp_path / 'RSOD'
    for i, (c, n) in enumerate(counts.items()):
        os.makedirs(root / c, exist_ok=True)
        write_images(str(root / c), n, seed=i)
    return str(root)


ALL4 = {'aircraft': 2, 'oiltank': 2, 'overpass': 2, 'playground': 2}


def e01(tmp_path):
    RSSceneDataset(str(tmp_path / 'NWPU-RESISC45'))


def e02(tmp_path):
    root = _rsod(tmp_path, ALL4)
    for f in os.listdir(osp.join(root, 'oiltank')):
        os.remove(osp.join(root, 'oiltank', f))
    RSOD(root)


def e03(tmp_path):
    RSOD(_rsod(tmp_path, {**ALL4, 'boats': 1}))


def e04(tmp_path):
    RSOD(_rsod(tmp_path, {k: 2 for k in list(ALL4)[:3]}))


def e05(tmp_path):
    root = _rsod(tmp_path, {'a': 3})
    with open(osp.join(root, 'a', 'img_000.png'), 'wb') as f:
        f.write(b'broken')
    for split in ('train', 'test'):
        ds = RSSceneDataset(root, split=split, train_ratio=0.5,
                            pipeline=[dict(type='LoadImageFromFile')])
        for i in range(len(ds)):
            ds[i]


def e06(tmp_path):
    RSSceneDataset(_rsod(tmp_path, {'a': 2}), train_ratio=1.5)


def e07(tmp_path):
    RSSceneDataset(_rsod(tmp_path, {'a': 2}), split='validation')


def e08(tmp_path):
    root = _rsod(tmp_path, {'a': 2})
    (tmp_path / 'bad.txt').write_text('a/img_000.png 0\na/img_001.png zebra\n')
    RSSceneDataset(root, ann_file=str(tmp_path / 'bad.txt'))


def e09(tmp_path):
    p = tmp_path / 'P0001.txt'
    p.write_text('gsd:1\n1 1 4 1 4 4 1 4 plane 0\n'
                 '10 20 50 20 50 60 plane 0\n')
    parse_dota_file(str(p))


def e10(tmp_path):
    os.makedirs(tmp_path / 'images')
    os.makedirs(tmp_path / 'labelTxt')
    write_images(str(tmp_path / 'images'), 1)
    os.rename(tmp_path / 'images' / 'img_000.png',
              tmp_path / 'images' / 'P0001.png')
    (tmp_path / 'labelTxt' / 'P0001.txt').write_text(
        '5 5 5 5 5 5 5 5 plane 0\n')
    with pytest.warns(UserWarning) as record:
        ds = DOTADataset(data_root=str(tmp_path), ann_file='labelTxt/',
                         data_prefix=dict(img='images/'))
    assert ds.num_degenerate == 1
    return ' '.join(str(r.message) for r in record)


def e11(tmp_path):
    os.makedirs(tmp_path / 'positive image set')
    os.makedirs(tmp_path / 'ground truth')
    write_images(str(tmp_path / 'positive image set'), 1, ext='.jpg')
    os.rename(tmp_path / 'positive image set' / 'img_000.jpg',
              tmp_path / 'positive image set' / '002.jpg')
    (tmp_path / 'ground truth' / '002.txt').write_text('(1,2),(3,4),11\n')
    NWPUVHR10Dataset(data_root=str(tmp_path), split='train',
                     train_ratio=0.9)


def e27(tmp_path):
    os.makedirs(tmp_path / 'positive image set')
    os.makedirs(tmp_path / 'ground truth')
    (tmp_path / 'ground truth' / '002.txt').write_text('(1,2),(3,4),1\n')
    NWPUVHR10Dataset(data_root=str(tmp_path), split='train',
                     train_ratio=0.5)


def e51(tmp_path):
    from mmrskd.evaluation import DOTATask2Metric
    DOTATask2Metric(ann_dir=str(tmp_path / 'DOTA' / 'val' / 'labelTxt'))


def e52(tmp_path):
    from mmengine.config import Config
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(sys.modules, 'mmrotate', None)  # the extra not installed
        Config.fromfile(osp.join(
            ROOT, 'configs/rotated/retinanet_r18_fpn_le90_dota.py'))


def e53(tmp_path):
    from types import SimpleNamespace

    from mmengine.config import Config

    from mmrskd.engine.hooks import CPUOpsCheckHook
    cfg = Config(dict(model=dict(type='mmdet.RetinaNet', bbox_head=dict(
        loss_bbox=dict(type='mmrotate.RotatedIoULoss')))))
    CPUOpsCheckHook().before_run(
        SimpleNamespace(model=torch.nn.Linear(1, 1), cfg=cfg))


def _train(*args):
    proc = subprocess.run([sys.executable, 'tools/train.py', *args],
                          cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode != 0
    raise RuntimeError(proc.stderr)


def e12(tmp_path):
    _train('configs/nope.py')


def _distiller(losses, teacher_depth=34, teacher_classes=4, ckpt=None,
               allow_random_teacher=True):
    from mmengine.registry import init_default_scope

    from mmrskd.models import ClsDistiller
    init_default_scope('mmpretrain')

    def clf(depth, n):
        return dict(type='ImageClassifier',
                    backbone=dict(type='ResNet', depth=depth),
                    neck=dict(type='GlobalAveragePooling'),
                    head=dict(type='LinearClsHead', num_classes=n,
                              in_channels=512 if depth < 50 else 2048))

    return ClsDistiller(student=clf(18, 4),
                        teacher=clf(teacher_depth, teacher_classes),
                        teacher_ckpt=ckpt, distill_losses=losses,
                        allow_random_teacher=allow_random_teacher)


def e13(tmp_path):
    _distiller(dict(loss_kd=dict(type='KDLoss', temprature=4)))


def e14(tmp_path):
    _distiller(dict(kd=dict(type='KDLoss')))


def e15(tmp_path):
    _distiller(dict(loss_f=dict(type='KDLoss', inputs=[
        'student.backbone.layer9', 'teacher.logits'])))


def e16(tmp_path):
    from mmrskd.models import FlipAlignLoss
    FlipAlignLoss(16, 32)(torch.randn(2, 8, 4, 4), torch.randn(2, 32, 4, 4))


def e28(tmp_path):
    _distiller(dict(loss_kd=dict(type='KDLoss')), allow_random_teacher=False)


def e29(tmp_path):
    from mmpretrain.registry import MODELS
    from mmengine.registry import init_default_scope
    init_default_scope('mmpretrain')
    torch.save(MODELS.build(dict(type='ImageClassifier',
                                 backbone=dict(type='ResNet', depth=34),
                                 neck=dict(type='GlobalAveragePooling'))),
               tmp_path / 'teacher.pth')
    _distiller(dict(loss_kd=dict(type='KDLoss')),
               ckpt=str(tmp_path / 'teacher.pth'))


def e30(tmp_path):
    torch.save([torch.zeros(1)], tmp_path / 'teacher.pth')
    _distiller(dict(loss_kd=dict(type='KDLoss')),
               ckpt=str(tmp_path / 'teacher.pth'))


def e31(tmp_path):
    torch.save({'meta': {'epoch': 12}}, tmp_path / 'teacher.pth')
    _distiller(dict(loss_kd=dict(type='KDLoss')),
               ckpt=str(tmp_path / 'teacher.pth'))


def e32(tmp_path):
    from mmengine.registry import init_default_scope

    from mmrskd.models import ClsDistiller
    init_default_scope('mmpretrain')
    clf = dict(type='ImageClassifier', backbone=dict(type='ResNet', depth=18),
               neck=dict(type='GlobalAveragePooling'),
               head=dict(type='LinearClsHead', num_classes=4,
                         in_channels=512),
               train_cfg=dict(augments=dict(type='Mixup', alpha=1.0)))
    ClsDistiller(student=clf, teacher=dict(clf, data_preprocessor=dict(
        mean=[0.] * 3, std=[255.] * 3)), allow_random_teacher=True,
        distill_losses=dict(loss_kd=dict(type='KDLoss')))


def e17(tmp_path):
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    import mmdet
    from mmrskd.models import DynamicDetDistiller
    init_default_scope('mmdet')
    cfg = Config.fromfile(osp.join(
        mmdet.__path__[0], '.mim', 'configs', 'cascade_rcnn',
        'cascade-rcnn_r50_fpn_1x_coco.py')).model
    cfg.backbone.init_cfg = None
    DynamicDetDistiller(student=cfg, teacher=cfg, allow_random_teacher=True)


def e18(tmp_path):
    from mmrskd.version import SUPPORTED, check_versions
    versions = {k: lo for k, (lo, _) in SUPPORTED.items()}
    versions['mmcv'] = '2.2.0'
    check_versions(versions)


def e19(tmp_path):
    _distiller(dict(loss_kd=dict(type='KDLoss')),
               ckpt=str(tmp_path / 'epoch_200.pth'))


def e20(tmp_path):
    from mmpretrain.registry import MODELS
    from mmengine.registry import init_default_scope
    init_default_scope('mmpretrain')
    r18 = MODELS.build(dict(type='ImageClassifier',
                            backbone=dict(type='ResNet', depth=18),
                            neck=dict(type='GlobalAveragePooling'),
                            head=dict(type='LinearClsHead', num_classes=4,
                                      in_channels=512)))
    torch.save(r18.state_dict(), tmp_path / 'r18.pth')
    _distiller(dict(loss_kd=dict(type='KDLoss')),
               ckpt=str(tmp_path / 'r18.pth'))


def e21(tmp_path):
    _distiller(dict(loss_kd=dict(type='KDLoss')), teacher_classes=7)


def e22(tmp_path):
    if os.geteuid() == 0:
        # root writes anywhere: use a path below a regular file instead
        (tmp_path / 'file').write_text('')
        from mmrskd.apis.cli import check_writable_dir
        check_writable_dir(str(tmp_path / 'file' / 'run'))
    ro = tmp_path / 'ro'
    ro.mkdir()
    ro.chmod(stat.S_IRUSR | stat.S_IXUSR)
    from mmrskd.apis.cli import check_writable_dir
    check_writable_dir(str(ro))


def e24(tmp_path):
    _train('configs/demo/resnet18_demo.py', '--resume',
           str(tmp_path / 'epoch_9.pth'))


def e26(tmp_path):
    from mmrskd.apis import export_student
    torch.save({'state_dict': {'backbone.w': torch.zeros(1)}},
               tmp_path / 'epoch_200.pth')
    export_student(str(tmp_path / 'epoch_200.pth'), str(tmp_path / 'o.pth'))


CASES = [
    ('E01', e01, FileNotFoundError, 'does not exist or is not a directory. '
     'Expected the folder-per-class layout "<data_root>/<class_name>/<image '
     'files>"'),
    ('E02', e02, ValueError, "Class folder(s) ['oiltank'] under"),
    ('E03', e03, ValueError, "Folder(s) ['boats'] under"),
    ('E04', e04, ValueError, "for class(es) ['playground']. Expected one "
     'sub-folder per class'),
    ('E05', e05, CorruptImageError, '. Remove or replace it, or build the '
     "dataset with on_corrupt='skip'"),
    ('E06', e06, ValueError, 'train_ratio must be strictly between 0 and 1 '
     '(0.8 for the 8:2 protocol, 0.5 for 5:5), got 1.5.'),
    ('E07', e07, ValueError, "split must be 'train', 'val' or 'test', got "
     "'validation'."),
    ('E08', e08, ValueError, "bad.txt, line 2: unknown class 'zebra'"),
    ('E09', e09, ValueError, 'P0001.txt, line 3: expected "x1 y1 x2 y2 x3 '
     'y3 x4 y4 category difficult", got \'10 20 50 20 50 60 plane 0\'.'),
    ('E11', e11, ValueError, '002.txt, line 1: expected "(x1,y1),(x2,y2),'
     'class_id" with class_id in 1..10'),
    ('E12', e12, RuntimeError, 'Config file "configs/nope.py" does not '
     'exist. Configs live under configs/'),
    ('E13', e13, TypeError, "distill_losses.loss_kd (KDLoss): "
     "KDLoss.__init__() got an unexpected keyword argument 'temprature'"),
    ('E14', e14, KeyError, 'distill_losses key "kd" must start with '
     '"loss_"'),
    ('E15', e15, KeyError, 'The student has no module "backbone.layer9" to '
     'capture features from.'),
    ('E16', e16, ValueError, 'FlipAlignLoss: student map has 8 channels, '
     'the connector expects 16 (student_channels).'),
    ('E17', e17, NotImplementedError, 'this student has CascadeRoIHead. Set '
     'isd=None and tsa=None'),
    ('E18', e18, ImportError, 'mmcv==2.2.0 is installed, mmrskd 0.1.0 needs '
     '>=2.0.0,<2.2.0. Run `make env`'),
    ('E19', e19, RuntimeError, 'epoch_200.pth" does not exist. Train the '
     'teacher first (`python tools/train.py'),
    ('E20', e20, RuntimeError, 'r18.pth" does not match the teacher model '
     '(ImageClassifier): '),
    ('E21', e21, ValueError, 'The teacher predicts 7 classes, the student 4.'
     ' Use a teacher trained on the same dataset.'),
    ('E22', e22, PermissionError, 'Pass a writable --work-dir.'),
    ('E24', e24, RuntimeError, 'epoch_9.pth" does not exist.'),
    ('E27', e27, ValueError, "split of the 1 annotated image(s) in"),
    ('E51', e51, FileNotFoundError, 'does not exist. Give the labelTxt '
     'folder of the full (unsplit) images the patches were cut from'),
    ('E52', e52, ModuleNotFoundError, 'needs mmrotate (oriented boxes), '
     'which is not installed. It comes with mmrskd\'s optional extra '
     '"rotated": run `pip install -e ".[rotated]"` in the mmrskd repository '
     '(or `make env`).'),
    ('E53', e53, RuntimeError, 'This model needs RotatedIoULoss '
     '(diff_iou_rotated_2d): mmcv ops that have no CPU kernel in mmcv'),
    ('E28', e28, RuntimeError, 'ClsDistiller: model.teacher_ckpt is not '
     'set, so the teacher would keep its random initialisation and the '
     'student would learn from noise.'),
    ('E29', e29, RuntimeError, 'teacher.pth" holds pickled Python objects '
     'that weights-only loading refuses'),
    ('E30', e30, RuntimeError, 'teacher.pth" holds a list, not a state dict'),
    ('E31', e31, RuntimeError, 'teacher.pth" holds no weights'),
    ('E32', e32, ValueError, 'The teacher normalises its inputs differently '
     'from the student, which cannot be combined with the student\'s batch '
     'augmentations (Mixup, CutMix)'),
    ('E26', e26, KeyError, 'epoch_200.pth" has no "student.*" weights: it '
     'is not a checkpoint of an mmrskd distiller'),
]


def _doc_section(case_id):
    m = re.search(rf'### {case_id} .*?(?=\n### |\Z)', DOC, re.S)
    assert m, f'{case_id} missing from docs/errors.md'
    return m.group(0)


@pytest.mark.parametrize('case_id,trigger,exc,fragment', CASES,
                         ids=[c[0] for c in CASES])
def test_error_message_matches_code_and_docs(case_id, trigger, exc,
                                             fragment, tmp_path):
    with pytest.raises(exc) as err:
        trigger(tmp_path)
    text = str(err.value)
    if isinstance(err.value, KeyError):
        text = err.value.args[0]
    assert fragment in text
    assert fragment in _doc_section(case_id), (case_id, fragment)


def test_zero_area_warning_matches_docs(tmp_path):
    text = e10(tmp_path)
    fragment = 'skipped 1 object(s) of zero area under'
    assert fragment in text
    assert fragment in _doc_section('E10')


def test_every_documented_case_is_tested():
    """A case not triggered here names its test as
    ``tests/<file>.py::<test name>`` in its section, and that test exists."""
    ids = re.findall(r'### (E\d\d) ', DOC)
    assert len(ids) >= 15
    covered = {c[0] for c in CASES} | {'E10'}
    for case_id in ids:
        if case_id in covered:
            continue
        named = re.findall(r'`(tests/[\w/]+\.py)::(\w+)`',
                           _doc_section(case_id))
        assert named, f'{case_id}: not triggered here and names no test'
        for path, name in named:
            source = open(osp.join(ROOT, path)).read()
            assert f'def {name}(' in source, (case_id, path, name)
