"""Distillation on oriented boxes (DOTA Task1; the optional extra "rotated",
mmrotate): the geometry of oriented boxes (inside test against mmrotate's,
rotated IoU, TSA's shape terms), GD's valuable regions and FGD's masks from
oriented boxes, the rotated RetinaNet adapter reproducing the head's own
losses, zero distillation against an identical teacher, a teacher written
by plain mmrotate, and each rotated distillation config trained and tested
through tools/train.py and tools/test.py.

The pure geometry tests run without mmrotate; the others skip with the
install command when it is missing."""
import copy
import math
import os.path as osp

import pytest
import torch
from mmengine.config import Config

from mmrskd.models.det.dynamic_kd import box_mask, tsa_weights
from mmrskd.models.det.losses.box_geometry import (aligned_iou, box_wh,
                                                   points_in_boxes)
from mmrskd.models.det.losses.fgd_masks import fgd_masks
from mmrskd.utils.extras import ROTATED_MISSING

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
#: the rotated distillation configs trained and tested here; the other
#: rotated configs are the family's dynamic-KD config with a baseline's loss
#: (COVERED below); tests/test_every_config_e2e.py leaves them all to this
#: file
FAMILIES = ('retinanet', 'oriented-rcnn', 'rotated-fcos')
CONFIGS = tuple(f'configs/rotated/dynkd_{family}_r50_r18_le90_dota.py'
                for family in FAMILIES) + (
    'configs/rotated/fgd_retinanet_r50_r18_le90_dota.py', )
STUDENT = 'configs/rotated/retinanet_r18_fpn_le90_dota.py'
#: the loss settings' variable of _base_/distill/det_<method>.py per family
FAMILY_LOSS = {'retinanet': '', 'oriented-rcnn': '_two_stage',
               'rotated-fcos': '_anchor_free'}
#: the baselines: the family's dynamic-KD config (student, teacher, data;
#: trained and tested below) with the baseline's loss at the family's
#: settings (test_baselines_are_dynamic_kd_with_the_baselines_loss). FGD
#: on RetinaNet trains below too (its masks come from the oriented boxes);
#: PKD, CWD and MGD read only the FPN maps, which the dynamic-KD runs
#: distill below, and their losses train in tests/test_every_config_e2e.py
#: (the Airbus RetinaNet configs)
COVERED = {
    f'configs/rotated/{m}_{family}_r50_r18_le90_dota.py':
    (f'configs/_base_/distill/det_{m}.py',
     f'configs/rotated/dynkd_{family}_r50_r18_le90_dota.py')
    for m in ('fgd', 'pkd', 'cwd', 'mgd') for family in FAMILIES}


@pytest.fixture
def mmrotate():
    return pytest.importorskip('mmrotate',
                               reason=f'This test {ROTATED_MISSING}')


def _xyxy_to_oriented(b: torch.Tensor) -> torch.Tensor:
    return torch.stack([(b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2,
                        b[:, 2] - b[:, 0], b[:, 3] - b[:, 1],
                        torch.zeros(len(b))], 1)


# ------------------------------------------------------------ geometry --- #
def test_points_in_oriented_boxes_match_mmrotate(mmrotate):
    from mmrotate.structures import RotatedBoxes
    g = torch.Generator().manual_seed(0)
    boxes = torch.cat([torch.rand(6, 2, generator=g) * 60 + 2,
                       torch.rand(6, 2, generator=g) * 30 + 4,
                       (torch.rand(6, 1, generator=g) - .5) * math.pi], 1)
    xs = torch.arange(0, 64, 1.7)
    ys = torch.arange(0, 64, 2.3)
    ours = points_in_boxes(xs, ys, boxes)
    grid = torch.stack(torch.meshgrid(ys, xs, indexing='ij'), -1)
    points = grid.flip(-1).reshape(-1, 2)  # (x, y)
    ref = RotatedBoxes(boxes).find_inside_points(points, eps=0.0)
    assert ours.sum() > 50
    assert torch.equal(ours.flatten(1), ref.T)


def test_axis_aligned_oriented_boxes_equal_horizontal_ones():
    # no side on a cell centre (4 k + 2): float rounding of cos(pi / 2)
    xyxy = torch.tensor([[3., 5., 29., 13.], [9., 3., 15., 31.]])
    oriented = _xyxy_to_oriented(xyxy)
    # the same rectangle as (h, w, theta + pi/2)
    turned = oriented[:, [0, 1, 3, 2, 4]] + torch.tensor([0, 0, 0, 0,
                                                          math.pi / 2])
    for other in (oriented, turned):
        assert torch.equal(box_mask([other], (8, 8), 4.0),
                           box_mask([xyxy], (8, 8), 4.0))
    assert torch.allclose(aligned_iou(oriented, turned), torch.ones(2),
                          atol=1e-5)
    ious = aligned_iou(oriented, oriented + torch.tensor([2., 0, 0, 0, 0]))
    assert torch.allclose(ious, aligned_iou(xyxy, xyxy + torch.tensor(
        [2., 0, 2, 0])), atol=1e-5)


def test_gd_region_of_a_diamond_by_hand():
    # a square of side 18 * sqrt(2) turned 45 degrees: |dx| + |dy| <= 18
    # around (16, 16); cell centres at 4, 12, 20, 28 (stride 8)
    box = torch.tensor([[16., 16., 18 * math.sqrt(2), 18 * math.sqrt(2),
                         math.pi / 4]])
    assert box_mask([box], (4, 4), 8.0)[0].int().tolist() == [
        [0, 1, 1, 0], [1, 1, 1, 1], [1, 1, 1, 1], [0, 1, 1, 0]]


def test_fgd_masks_of_oriented_boxes_by_hand():
    diamond = torch.tensor([[16., 16., 18 * math.sqrt(2),
                             18 * math.sqrt(2), math.pi / 4]])
    like = torch.zeros(2, 1, 4, 4)
    # image 1: a box smaller than a cell, between cell centres, keeps the
    # cell of its centre
    tiny = torch.tensor([[9., 9., 2., 2., 0.3]])
    fg, bg = fgd_masks([diamond, tiny], [(32., 32.)] * 2, like)
    cells = torch.tensor([[0, 1, 1, 0], [1, 1, 1, 1], [1, 1, 1, 1],
                          [0, 1, 1, 0]], dtype=torch.float32)
    assert torch.allclose(fg[0], cells / 12)
    assert torch.allclose(bg[0], (1 - cells) / 4)
    assert fg[1].nonzero().tolist() == [[1, 1]] and fg[1, 1, 1] == 1
    assert torch.allclose(bg[1].sum(), torch.tensor(1.))


def test_tsa_of_oriented_boxes_uses_their_sides():
    xyxy = torch.tensor([[0., 0., 100., 100.], [0., 0., 100., 10.],
                         [0., 0., 10., 10.]])
    oriented = _xyxy_to_oriented(xyxy)
    oriented[:, 4] = torch.tensor([0.3, -1.1, 0.7])  # angles do not matter
    inst = torch.tensor([0, 1, 2, 1])
    ious = torch.tensor([0.5, 0.2, 0.9, 0.6])
    assert torch.equal(box_wh(oriented)[0], torch.tensor([100., 100., 10.]))
    assert torch.allclose(tsa_weights(oriented, inst, ious, 0.7),
                          tsa_weights(xyxy, inst, ious, 0.7))


# ------------------------------------------------------ rotated heads --- #
def _rotated_model_cfg(config=STUDENT):
    cfg = Config.fromfile(osp.join(ROOT, config)).model
    head = cfg.roi_head.bbox_head if 'roi_head' in cfg else cfg.bbox_head
    head.num_classes = 3
    return cfg


def _rotated_batch(n=2, size=96):
    from mmdet.structures import DetDataSample
    from mmengine.structures import InstanceData
    from mmrotate.structures import RotatedBoxes
    g = torch.Generator().manual_seed(0)
    samples = []
    for i in range(n):
        s = DetDataSample(metainfo=dict(img_shape=(size, size),
                                        ori_shape=(size, size),
                                        scale_factor=(1., 1.)))
        s.gt_instances = InstanceData(
            bboxes=RotatedBoxes(torch.tensor([
                [30. + i, 25., 40., 14., 0.4], [64., 70., 20., 36., -0.9]])),
            labels=torch.tensor([0, 2]))
        samples.append(s)
    inputs = [torch.randint(0, 255, (3, size, size), generator=g,
                            dtype=torch.uint8) for _ in range(n)]
    return dict(inputs=inputs, data_samples=samples)


@pytest.fixture
def rotated_scope(mmrotate):
    from mmengine.registry import DefaultScope
    import mmrskd  # noqa: F401
    import mmrskd.datasets.rotated_dota  # noqa: F401
    with DefaultScope.overwrite_default_scope('mmrotate'):
        yield


def test_rotated_anchor_losses_equal_the_heads_own(rotated_scope):
    from mmrotate.registry import MODELS

    from mmrskd.models.det.anchor_head_adapter import anchor_head_losses
    student = MODELS.build(_rotated_model_cfg())
    data = student.data_preprocessor(_rotated_batch(), True)
    cls, reg = student.bbox_head(student.extract_feat(data['inputs']))
    ours = anchor_head_losses(student.bbox_head, cls, reg,
                              data['data_samples'])
    ref = student.bbox_head.loss_by_feat(
        cls, reg, [s.gt_instances for s in data['data_samples']],
        [s.metainfo for s in data['data_samples']])
    for key in ('loss_cls', 'loss_bbox'):
        assert ours[key].item() == pytest.approx(sum(ref[key]).item(),
                                                 rel=1e-5), key
    assert ours['loss_bbox'].item() > 0  # oriented positives were found


def test_oriented_rcnn_roi_losses_equal_the_heads_own(rotated_scope):
    """Oriented R-CNN (mmdet's StandardRoIHead on rotated RoIs): the RoI
    adapter's losses with ISD/TSA off are the RoI head's own."""
    from mmrotate.registry import MODELS

    from mmrskd.models.det.roi_head_adapter import roi_head_losses
    student = MODELS.build(_rotated_model_cfg(
        'configs/rotated/oriented-rcnn_r18_fpn_le90_dota.py'))
    data = student.data_preprocessor(_rotated_batch(), True)
    feats = student.extract_feat(data['inputs'])
    proposals = student.rpn_head.predict(feats, data['data_samples'],
                                         rescale=False)
    torch.manual_seed(0)  # the RoI sampler draws at random
    ours = roi_head_losses(student.roi_head, feats, copy.deepcopy(proposals),
                           data['data_samples'])
    torch.manual_seed(0)
    ref = student.roi_head.loss(feats, proposals, data['data_samples'])
    assert ours['loss_bbox'].item() > 0  # rotated positives were sampled
    for key in ('loss_cls', 'loss_bbox', 'acc'):
        assert ours[key].item() == pytest.approx(ref[key].item(),
                                                 rel=1e-5), key


def test_identical_teacher_gives_zero_distillation(rotated_scope):
    from mmdet.registry import MODELS
    cfg = _rotated_model_cfg()
    model = MODELS.build(dict(
        type='mmdet.DynamicDetDistiller', student=cfg, teacher=copy.deepcopy(cfg),
        teacher_ckpt=None, allow_random_teacher=True))
    model.teacher.model.load_state_dict(model.student.state_dict())
    for conn in model.gd_connectors:  # identity 1x1 connectors
        torch.nn.init.zeros_(conn.bias)
        conn.weight.data.copy_(torch.eye(256)[:, :, None, None])
    model.eval()  # the student's BatchNorm as the frozen teacher's
    data = model.data_preprocessor(_rotated_batch(), True)
    losses = model.loss(**data)
    assert losses['loss_gd'].item() == pytest.approx(0, abs=1e-6)
    assert losses['loss_isd'].item() == pytest.approx(0, abs=1e-5)
    # ... and not zero for a slightly different teacher (a much worse one
    # would get ISD weights of 0: its instances are not imitated)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in model.teacher.model.bbox_head.parameters():
            p.add_(1e-3 * torch.randn(p.shape, generator=g))
    assert model.loss(**data)['loss_isd'].item() > 1e-4


def test_teacher_written_by_plain_mmrotate_loads(mmrotate, rotated_scope,
                                                 tmp_path):
    """A checkpoint as mmengine's Runner writes it for a plain mmrotate
    config (no mmrskd in it) is a teacher of the rotated distiller."""
    from mmdet.registry import MODELS

    from mmrskd.testing.checkpoints import save_runner_checkpoint
    teacher = Config.fromfile(osp.join(
        ROOT, 'configs/rotated/retinanet_r50_fpn_le90_dota.py'))
    plain = Config.fromfile(osp.join(
        mmrotate.__path__[0], '.mim', 'configs', 'rotated_retinanet',
        'rotated-retinanet-rbox-le90_r50_fpn_1x_dota.py'))
    assert 'custom_imports' not in plain
    plain.model.backbone.init_cfg = None
    plain_file = str(tmp_path / 'plain_rotated_retinanet.py')
    plain.dump(plain_file)
    ckpt = save_runner_checkpoint(plain_file, str(tmp_path / 'epoch_12.pth'))
    model = MODELS.build(dict(
        type='mmdet.DynamicDetDistiller', student=teacher.model, teacher_ckpt=ckpt,
        teacher_cfg=plain_file))
    saved = torch.load(ckpt, map_location='cpu', weights_only=False)
    state = model.teacher.model.state_dict()
    assert all(torch.equal(state[k], v)
               for k, v in saved['state_dict'].items())


@pytest.mark.parametrize('config', sorted(COVERED))
def test_baselines_are_dynamic_kd_with_the_baselines_loss(config, mmrotate):
    """FGD/PKD/CWD/MGD on each rotated family: the family's dynamic-KD
    config (student, teacher, data; trained and tested below) with GD/ISD/TSA
    off and the baseline's loss at the family's settings (RetinaNet,
    two-stage or anchor-free, _base_/distill/det_<method>.py), nothing
    else; the loss resolves in mmrotate's scope, where these configs run
    (the distiller builds its losses from mmdet's registry)."""
    from mmdet.registry import MODELS
    from mmengine.registry import DefaultScope
    settings, family = (Config.fromfile(osp.join(ROOT, c))
                        for c in COVERED[config])
    cfg = Config.fromfile(osp.join(ROOT, config))
    method = osp.basename(config).split('_')[0]
    var = f'{method}_loss' + FAMILY_LOSS[osp.basename(config).split('_')[1]]
    (name, loss), = cfg.model.distill_losses.items()
    assert name == f'loss_{method}' and loss == settings[var]
    assert cfg.model.gd is cfg.model.isd is cfg.model.tsa is None
    expected = copy.deepcopy(family._cfg_dict.to_dict())
    expected['model'].update(gd=None, isd=None, tsa=None,
                             distill_losses={name: settings[var].to_dict()})
    # the loss settings' variables of _base_/distill/det_<method>.py
    expected.update(settings._cfg_dict.to_dict())
    assert cfg._cfg_dict.to_dict() == expected
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        assert MODELS.get(loss.type).__name__ == loss.type


# ---------------------------------------------------------------- e2e --- #
@pytest.mark.parametrize('config', CONFIGS)
def test_rotated_distill_configs_train_and_test(config, mmrotate, tmp_path,
                                                monkeypatch):
    """Each rotated distillation config trains one epoch (its distillation
    losses finite and logged) and tests through the tools (DOTA Task1 on
    the full images, mmrotate's DOTAMetric on the patches)."""
    from tests.test_rotated import train_and_test
    scalars, metrics = train_and_test(config, tmp_path, monkeypatch)
    method = osp.basename(config).split('_')[0]
    keys = ['train/loss_gd', 'train/loss_isd'] if method == 'dynkd' \
        else [f'train/loss_{method}']
    for key in ['train/loss', *keys]:
        values = scalars[key].data[0]
        assert len(values) and all(map(math.isfinite, values)), (key, values)
    assert 0 <= metrics['dota/mAP'] <= 1, metrics  # Task1, full images
    assert 'patch_dota/AP50' in metrics
