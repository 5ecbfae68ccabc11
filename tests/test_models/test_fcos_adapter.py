"""The FCOS adapter reads each head's distances by that head's own
convention (``norm_on_bbox``, training or eval mode), so that a teacher
identical to the student, run as the distiller runs it (frozen, in eval mode)
gives no ISD loss; and the RetinaNet / RoI heads the other adapters use
predict the same in both modes."""
import copy
import math

import pytest
import torch
from mmdet.registry import MODELS
from mmengine.registry import init_default_scope

import mmrskd  # noqa: F401
from mmrskd.models.det import DynamicDetDistiller
from mmrskd.models.det.fcos_head_adapter import (distance_pull,
                                                 fcos_head_losses,
                                                 pixel_distances)

from .test_dynamic_det import _batch, _model, _r18

FCOS = 'fcos/fcos_r50-caffe_fpn_gn-head_1x_coco.py'


@pytest.fixture(autouse=True)
def _scope():
    init_default_scope('mmdet')


def _fcos(norm_on_bbox: bool):
    """A small FCOS (R18, 64-channel FPN and head)."""
    cfg = _r18(_model(FCOS))
    cfg.neck.out_channels = 64
    cfg.bbox_head.update(in_channels=64, feat_channels=64,
                         norm_on_bbox=norm_on_bbox)
    return cfg


def _set_reg_bias(head, value: float):
    """Distances of several pixels everywhere (at the random initialisation
    many are relu(~0) = 0, zero-size boxes)."""
    with torch.no_grad():
        head.conv_reg.bias.fill_(value)


@pytest.mark.parametrize('norm_on_bbox', [True, False])
def test_pixel_distances_agree_between_train_and_eval_mode(norm_on_bbox):
    detector = MODELS.build(_fcos(norm_on_bbox))
    _set_reg_bias(detector.bbox_head, 1.0)
    data = detector.data_preprocessor(_batch(), True)
    head = detector.bbox_head
    with torch.no_grad():
        feats = detector.extract_feat(data['inputs'])
        head.train()
        train = pixel_distances(head, head(feats)[1])
        raw_train = head(feats)[1]
        head.eval()
        evaluated = pixel_distances(head, head(feats)[1])
    for level, (a, b) in enumerate(zip(train, evaluated)):
        assert torch.allclose(a, b, rtol=1e-6)
        # the raw training-mode maps are in stride units with norm_on_bbox
        unit = head.strides[level] if norm_on_bbox else 1.0
        assert torch.allclose(a, raw_train[level] * unit, rtol=1e-6)
        assert (a > 0).any()


@pytest.mark.parametrize('norm_on_bbox', [True, False])
def test_identical_teacher_gives_zero_isd_as_the_distiller_runs_it(
        norm_on_bbox):
    cfg = _fcos(norm_on_bbox)
    model = DynamicDetDistiller(student=cfg, teacher=copy.deepcopy(cfg),
                                teacher_ckpt=None, allow_random_teacher=True,
                                gd=None, isd=dict(), tsa=dict())
    _set_reg_bias(model.student.bbox_head, 1.0)
    model.teacher.model.load_state_dict(model.student.state_dict())
    model.train()
    data = model.data_preprocessor(_batch(), True)
    losses = model(**data, mode='loss')
    # the frozen teacher ran in eval mode, the student in training mode
    assert model.student.bbox_head.training
    assert not model.teacher.model.bbox_head.training
    assert losses['loss_isd'].item() == pytest.approx(0.0, abs=1e-6)
    # the positives are there: a teacher predicting other boxes is imitated
    _set_reg_bias(model.teacher.model.bbox_head, 1.5)
    assert model(**data, mode='loss')['loss_isd'].item() > 1e-2


def test_identical_teacher_gives_zero_isd_with_zero_size_boxes():
    """As built, many distances are exactly 0 (relu): 1 - GIoU of such a box
    with itself would be 1 (measured 0.42 for this model); the L1 of the
    distances is 0."""
    cfg = _fcos(True)
    model = DynamicDetDistiller(student=cfg, teacher=copy.deepcopy(cfg),
                                allow_random_teacher=True, gd=None,
                                isd=dict(), tsa=None)
    model.teacher.model.load_state_dict(model.student.state_dict())
    model.train()
    data = model.data_preprocessor(_batch(), True)
    outs = model.student.bbox_head(model.student.extract_feat(
        data['inputs']))
    assert any((r == 0).any() for r in outs[1])
    losses = model(**data, mode='loss')
    assert losses['loss_isd'].item() == pytest.approx(0.0, abs=1e-6)


def test_teacher_with_other_norm_on_bbox_is_read_in_pixels():
    student = MODELS.build(_fcos(True))
    _set_reg_bias(student.bbox_head, 1.0)
    t_head = MODELS.build(_fcos(False).bbox_head)  # distances in pixels
    t_head.eval()
    data = student.data_preprocessor(_batch(), True)
    outs = student.bbox_head(student.extract_feat(data['inputs']))
    cls, reg, ctr = (tuple(m.detach() for m in lvl) for lvl in outs)
    pixels = pixel_distances(student.bbox_head, reg)
    # the same boxes, as a teacher without norm_on_bbox predicts them
    same = fcos_head_losses(student.bbox_head, outs, data['data_samples'],
                            (cls, pixels, ctr), isd=dict(), t_head=t_head)
    assert same['loss_isd'].item() == pytest.approx(0.0, abs=1e-6)
    # read by the student's convention instead, they are stride times larger
    wrong = fcos_head_losses(student.bbox_head, outs, data['data_samples'],
                             (cls, pixels, ctr), isd=dict(),
                             t_head=student.bbox_head)
    assert wrong['loss_isd'].item() > 0.1


def test_isd_needs_the_teacher_head():
    student = MODELS.build(_fcos(True))
    data = student.data_preprocessor(_batch(), True)
    outs = student.bbox_head(student.extract_feat(data['inputs']))
    with pytest.raises(ValueError, match='teacher head'):
        fcos_head_losses(student.bbox_head, outs, data['data_samples'],
                         outs, isd=dict())


@pytest.mark.parametrize('path', ['retinanet/retinanet_r50_fpn_1x_coco.py',
                                  'faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py'
                                  ])
def test_anchor_and_roi_heads_predict_the_same_in_train_and_eval_mode(path):
    """The anchor and RoI adapters compare raw outputs of the two heads:
    valid because these heads have no mode-dependent output convention."""
    detector = MODELS.build(_r18(_model(path)))
    data = detector.data_preprocessor(_batch(), True)
    with torch.no_grad():
        feats = detector.extract_feat(data['inputs'])
        rois = torch.tensor([[0, 10., 10., 60., 30.],
                             [1, 70., 64., 100., 120.]])

        def run():
            if hasattr(detector, 'roi_head'):
                out = detector.roi_head._bbox_forward(feats, rois)
                return [out['cls_score'], out['bbox_pred']]
            cls, reg = detector.bbox_head(feats)
            return list(cls) + list(reg)

        detector.train()
        train = run()
        detector.eval()
        evaluated = run()
    assert all(torch.equal(a, b) for a, b in zip(train, evaluated))


def test_distance_pull_is_the_l1_of_log_distances():
    student = torch.tensor([[0.0, 4.0, 8.0, 120.0], [2.0, 2.0, 2.0, 2.0]])
    teacher = torch.tensor([[0.0, 12.0, 8.0, 24.0], [2.0, 2.0, 2.0, 2.0]])
    strides = torch.tensor([8.0, 16.0])
    # |log(1 + 4/8) - log(1 + 12/8)| + |log(1 + 120/8) - log(1 + 24/8)|
    golden = abs(math.log(1.5) - math.log(2.5)) + abs(math.log(16.0) -
                                                      math.log(4.0))
    pull = distance_pull(student, teacher, strides)
    assert pull.tolist() == pytest.approx([golden, 0.0], abs=1e-6)
    # zero-size boxes that agree are not pulled
    zero = torch.zeros(1, 4)
    assert distance_pull(zero, zero, strides[:1]).item() == 0.0


def test_distance_pull_gradient_through_exp_is_bounded():
    """FCOS predicts ``d = exp(x)``: the pull's gradient in ``x`` stays
    below 1 however far the student overshoots, where the L1 of the
    distances pulls with ``d / s`` (the force that drove a real student's
    distances to 0 within one epoch)."""
    x = torch.tensor([[0.0, 3.0, 6.0, 9.0]], requires_grad=True)
    teacher = torch.full((1, 4), 20.0)
    strides = torch.tensor([8.0])
    distance_pull(x.exp(), teacher, strides).backward()
    d = x.detach().exp()[0]
    golden = torch.sign(d - 20.0) * d / (8.0 + d)
    assert torch.allclose(x.grad[0], golden, atol=1e-6)
    assert x.grad.abs().max().item() < 1.0
    l1 = (x.exp() - teacher).abs().sum(-1) / strides
    x.grad = None
    l1.backward()
    assert x.grad.abs().max().item() > 1000  # exp(9) / 8
