"""Dynamic KD on mmrotate's rotated FCOS (``RotatedFCOSHead``): the adapter
reproduces the head's own losses with ISD and TSA off (the configs' hbox
variant, an oriented-box loss, a 180-bin angle coder), matches each positive
to its ground truth, weights the box and angle losses with TSA as computed by
hand, gives no ISD against an identical teacher, and the distiller trains a
step with it. Needs the optional extra "rotated" (mmrotate)."""
import copy
import importlib
import math
import os.path as osp
import sys

import pytest
import torch
from mmengine.config import Config

from mmrskd.models.det.dynamic_kd import tsa_weights
from mmrskd.models.det.losses.box_geometry import aligned_iou
from mmrskd.utils.extras import ROTATED_MISSING
from tests.test_rotated_distill import _rotated_batch

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
STUDENT = 'configs/rotated/rotated-fcos_r18_fpn_le90_dota.py'
ADAPTER = 'mmrskd.models.det.rotated_fcos_head_adapter'
#: (cx, cy, w, h, theta), labels 0, 1, 2: one box taller than wide and one
#: angle outside le90's range, which the head regularises
BOXES = [[30., 25., 40., 14., 0.4], [64., 70., 20., 36., -0.9],
         [70., 24., 30., 12., 1.9]]


@pytest.fixture
def scope():
    pytest.importorskip('mmrotate', reason=f'This test {ROTATED_MISSING}')
    from mmengine.registry import DefaultScope
    import mmrskd  # noqa: F401
    with DefaultScope.overwrite_default_scope('mmrotate'):
        yield


def _cfg(**head):
    """The student config's model, 64-channel FPN and head, 3 classes."""
    cfg = Config.fromfile(osp.join(ROOT, STUDENT)).model
    cfg.neck.out_channels = 64
    cfg.bbox_head.update(num_classes=3, in_channels=64, feat_channels=64,
                         **head)
    return cfg


def _build(cfg, reg_bias: float = 1.0):
    """The detector, its distances a few pixels (not relu(~0) = 0)."""
    from mmrotate.registry import MODELS
    model = MODELS.build(cfg)
    with torch.no_grad():
        model.bbox_head.conv_reg.bias.fill_(reg_bias)
    return model


def _batch(boxes=BOXES, n=2):
    """test_rotated_distill's batch (96 px images) with ``boxes``, shifted
    by the image's index, labelled 0, 1, 2."""
    from mmengine.structures import InstanceData
    from mmrotate.structures import RotatedBoxes
    data = _rotated_batch(n)
    for i, s in enumerate(data['data_samples']):
        b = torch.as_tensor(boxes, dtype=torch.float32) + \
            torch.tensor([i, 0., 0., 0., 0.])
        s.gt_instances = InstanceData(bboxes=RotatedBoxes(b),
                                      labels=torch.arange(len(boxes)))
    return data


def _outs(model, data):
    return model.bbox_head(model.extract_feat(data['inputs']))


VARIANTS = {
    'hbox (the configs)': {},
    'hbox, distances in pixels': dict(norm_on_bbox=False),
    'rbox, KLD box loss': dict(
        use_hbbox_loss=False, loss_angle=None,
        loss_bbox=dict(type='GDLoss', loss_type='kld', loss_weight=1.0)),
    'hbox, CSL angle bins': dict(
        scale_angle=False,
        angle_coder=dict(type='CSLCoder', angle_version='le90', omega=1,
                         window='gaussian', radius=1),
        loss_angle=dict(type='SmoothFocalLoss', gamma=2.0,
                        alpha=0.25, loss_weight=0.2)),
}


@pytest.mark.parametrize('variant', VARIANTS)
def test_losses_equal_the_heads_own(variant, scope):
    """use_hbbox_loss=False with mmrotate's default RotatedIoULoss needs
    diff_iou_rotated_2d (CUDA only): the oriented-box loss is KLD here."""
    from mmrskd.models.det.rotated_fcos_head_adapter import \
        rotated_fcos_head_losses
    model = _build(_cfg(**VARIANTS[variant]))
    data = model.data_preprocessor(_batch(), True)
    outs = _outs(model, data)
    ours = rotated_fcos_head_losses(model.bbox_head, outs,
                                    data['data_samples'])
    ref = model.bbox_head.loss_by_feat(
        *outs, [s.gt_instances for s in data['data_samples']],
        [s.metainfo for s in data['data_samples']])
    assert list(ours) == list(ref)
    for key, value in ref.items():
        assert ours[key].item() == pytest.approx(value.item(), rel=1e-5), key
    assert ours['loss_bbox'].item() > 0


def test_batch_without_objects(scope):
    """No positives: the head's own losses, ISD 0, all differentiable."""
    from mmrskd.models.det.rotated_fcos_head_adapter import \
        rotated_fcos_head_losses
    model = _build(_cfg())
    data = model.data_preprocessor(_batch(torch.zeros(0, 5)), True)
    outs = _outs(model, data)
    ours = rotated_fcos_head_losses(model.bbox_head, outs,
                                    data['data_samples'], outs, isd=dict(),
                                    tsa=dict(), t_head=model.bbox_head)
    ref = model.bbox_head.loss_by_feat(
        *outs, [s.gt_instances for s in data['data_samples']],
        [s.metainfo for s in data['data_samples']])
    assert list(ours) == list(ref) + ['loss_isd']
    assert all(ours[k].item() == pytest.approx(v.item(), rel=1e-5)
               for k, v in ref.items())
    assert ours['loss_isd'].item() == 0
    sum(ours.values()).backward()


def test_positives_are_matched_to_their_ground_truth(scope):
    from mmrskd.models.det.rotated_fcos_head_adapter import _positives
    model = _build(_cfg())
    data = model.data_preprocessor(_batch(), True)
    gts = [s.gt_instances for s in data['data_samples']]
    pos = _positives(model.bbox_head, _outs(model, data)[0], gts)
    labels = torch.cat([g.labels for g in gts])
    assert torch.equal(pos.labels[pos.idx], labels[pos.inst])
    assert pos.inst.unique().tolist() == list(range(6))
    # the regularised boxes: w the longer side, theta in [-pi/2, pi/2)
    assert torch.allclose(pos.all_gt[1], torch.tensor(
        [64., 70., 36., 20., -0.9 + math.pi / 2]))
    assert torch.allclose(pos.all_gt[2, 4], torch.tensor(1.9 - math.pi))


def _constant_head(head, distance: float, angle: float):
    """Every point predicts a square of half-side ``distance`` strides
    around itself at angle ``angle``."""
    with torch.no_grad():
        for conv, bias in ((head.conv_reg, distance),
                           (head.conv_angle, angle)):
            conv.weight.zero_()
            conv.bias.fill_(bias)


def _by_hand(points: torch.Tensor, boxes: torch.Tensor, d: torch.Tensor):
    """IoU and centre-ness of squares of half-side ``d`` around ``points``
    at the angle of their ``boxes`` (P, 5): in the box's frame both are
    axis aligned, (u, v) the point's offset from the box centre."""
    c, s = torch.cos(boxes[:, 4]), torch.sin(boxes[:, 4])
    dx, dy = (points - boxes[:, :2]).unbind(1)
    u, v = dx * c + dy * s, -dx * s + dy * c
    w, h = boxes[:, 2], boxes[:, 3]
    ou = torch.minimum(u + d, w / 2) - torch.maximum(u - d, -w / 2)
    ov = torch.minimum(v + d, h / 2) - torch.maximum(v - d, -h / 2)
    inter = ou.clamp(min=0) * ov.clamp(min=0)
    left, right, top, bottom = w / 2 + u, w / 2 - u, h / 2 + v, h / 2 - v
    ctr = torch.sqrt(torch.minimum(left, right) / torch.maximum(left, right) *
                     torch.minimum(top, bottom) / torch.maximum(top, bottom))
    return inter / (4 * d * d + w * h - inter), ctr


def test_tsa_weights_box_and_angle_losses_by_hand(scope):
    """Squares at the boxes' own angle: the rotated IoU and the IoU loss
    (mode log) of the horizontal boxes in the box's frame, and the
    centre-ness, by hand; gamma at progress 0.25 is half of gamma_max."""
    from mmrskd.models.det.rotated_fcos_head_adapter import (
        _positives, rotated_fcos_head_losses)
    boxes = torch.tensor([[40., 40., 40., 14., 0.4],
                          [30., 70., 24., 10., 0.4]])
    model = _build(_cfg())
    _constant_head(model.bbox_head, 1.0, 0.4)
    data = model.data_preprocessor(_batch(boxes.tolist(), n=1), True)
    tsa = dict(gamma_max=2.0, eta=2.0)

    def losses():
        return rotated_fcos_head_losses(model.bbox_head, _outs(model, data),
                                        data['data_samples'], tsa=tsa,
                                        progress=0.25)

    pos = _positives(model.bbox_head, _outs(model, data)[0],
                     [data['data_samples'][0].gt_instances])
    d = pos.strides  # the square's half-side in pixels
    iou, ctr = _by_hand(pos.points, boxes[pos.inst], d)
    aspect = torch.log(boxes[:, 2] / boxes[:, 3])
    root = (boxes[:, 2] * boxes[:, 3]).sqrt()
    shape = aspect / aspect.max() + 1 - root / root.max()
    weight = 1 + 2.0 * 0.5 * shape[pos.inst] * (1 - iou)**2
    assert len(pos.idx) >= 4 and (iou < 0.99).all()
    expected = (-torch.log(iou) * ctr * weight).sum() / ctr.sum()
    assert losses()['loss_bbox'].item() == pytest.approx(expected.item(),
                                                         rel=1e-5)
    # the boxes' own angle
    assert losses()['loss_angle'].item() == pytest.approx(0, abs=1e-6)
    # 0.1 off the boxes' angle: the L1 angle loss (weight 0.2) weighted by
    # TSA from the rotated IoU
    _constant_head(model.bbox_head, 1.0, 0.5)
    pred = torch.cat([pos.points, 2 * d[:, None].expand(-1, 2),
                      torch.full((len(d), 1), 0.5)], 1)
    weight = tsa_weights(boxes, pos.inst, aligned_iou(pred, boxes[pos.inst]),
                         0.25, **tsa)
    expected = (0.2 * 0.1 * weight).sum() / len(pos.idx)
    assert losses()['loss_angle'].item() == pytest.approx(expected.item(),
                                                          rel=1e-4)


def _distiller(gd=dict()):
    from mmdet.registry import MODELS
    cfg = _cfg()
    model = MODELS.build(dict(
        type='mmdet.DynamicDetDistiller', student=cfg,
        teacher=copy.deepcopy(cfg), teacher_ckpt=None,
        allow_random_teacher=True, gd=gd))
    with torch.no_grad():
        model.student.bbox_head.conv_reg.bias.fill_(1.0)
    return model


def test_identical_teacher_gives_no_isd(scope):
    from mmrskd.models.det.dynamic_det_distiller import head_kind
    model = _distiller(gd=None)
    assert head_kind(model.student) == 'rotated_fcos'
    model.teacher.model.load_state_dict(model.student.state_dict())
    model.eval()  # the student's BatchNorm as the frozen teacher's
    data = model.data_preprocessor(_batch(), True)
    assert model.loss(**data)['loss_isd'].item() == pytest.approx(0,
                                                                  abs=1e-6)
    # a slightly different teacher is imitated (a much worse one would get
    # ISD weights of 0)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in model.teacher.model.bbox_head.parameters():
            p.add_(1e-3 * torch.randn(p.shape, generator=g))
    assert model.loss(**data)['loss_isd'].item() > 1e-4


def test_one_training_step_of_the_distiller(scope):
    model = _distiller()
    model.train()
    before = copy.deepcopy(model.teacher.model.state_dict())
    data = model.data_preprocessor(_batch(), True)
    losses = model(**data, mode='loss')
    assert set(losses) == {'loss_cls', 'loss_bbox', 'loss_angle',
                           'loss_centerness', 'loss_isd', 'loss_gd'}
    assert all(torch.isfinite(v) for v in losses.values()), losses
    sum(losses.values()).backward()
    for module in (model.student.backbone, model.student.bbox_head.conv_reg,
                   model.student.bbox_head.conv_angle, model.gd_connectors):
        assert any(p.grad is not None and p.grad.abs().sum() > 0
                   for p in module.parameters()), module
    assert all(p.grad is None for p in model.teacher.model.parameters())
    after = model.teacher.model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_adapter_imports_without_mmrotate(monkeypatch):
    """mmrskd imports without the extra: the adapter reads the head's own
    coders and targets and never imports mmrotate."""
    monkeypatch.setitem(sys.modules, 'mmrotate', None)
    monkeypatch.delitem(sys.modules, ADAPTER, raising=False)
    assert hasattr(importlib.import_module(ADAPTER),
                   'rotated_fcos_head_losses')
