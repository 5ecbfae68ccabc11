"""Dynamic detection distillation: GD selection, ISD and TSA weights, the
RetinaNet per-anchor loss identity, and one real training step of each
detector family with distillation."""
import copy

import pytest
import torch
from mmdet.registry import MODELS
from mmdet.structures import DetDataSample
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.structures import InstanceData

import mmrskd  # noqa: F401
from mmrskd.models.det import (DynamicDetDistiller, gd_level_loss,
                               isd_weights, topk_mean, tsa_weights)
from mmrskd.models.det.anchor_head_adapter import anchor_head_losses
from mmrskd.models.det.fcos_head_adapter import fcos_head_losses
from mmrskd.models.det.roi_head_adapter import roi_head_losses
from mmrskd.models.det.dynamic_kd import box_mask


@pytest.fixture(autouse=True)
def _scope():
    init_default_scope('mmdet')


# ------------------------------------------------------------ pure parts
def test_topk_selects_exactly_top_share_inside_and_outside():
    values = torch.arange(16.).view(1, 4, 4)
    mask = torch.zeros(1, 4, 4, dtype=torch.bool)
    mask[0, :2, :2] = True          # positions 0, 1, 4, 5
    mean, sel = topk_mean(values, mask, 0.5)
    assert sel[0].nonzero().flatten().tolist() == [4, 5]
    assert mean.item() == pytest.approx(4.5)
    mean, sel = topk_mean(values, ~mask, 0.1)   # 12 outside -> ceil(1.2)=2
    assert sel[0].nonzero().flatten().tolist() == [14, 15]
    assert mean.item() == pytest.approx(14.5)


def test_box_mask_by_cell_centres():
    m = box_mask([torch.tensor([[0., 0., 16., 8.]])], (4, 4), 8.0)
    assert m[0].int().tolist() == [[1, 1, 0, 0], [0, 0, 0, 0],
                                   [0, 0, 0, 0], [0, 0, 0, 0]]


def test_gd_level_loss_matches_manual_selection():
    g = torch.Generator().manual_seed(0)
    fs = torch.randn(1, 4, 4, 4, generator=g, requires_grad=True)
    ft = torch.randn(1, 4, 4, 4, generator=g)
    boxes = [torch.tensor([[0., 0., 16., 16.]])]     # 2x2 cells at stride 8
    loss = gd_level_loss(fs, ft, boxes, 8.0, k_fg=0.5, k_bg=0.1)
    norm = lambda x: (x - x.mean()) / (x.std(unbiased=False) + 1e-5)  # noqa
    d = ((norm(ft) - norm(fs))**2).mean(1)[0].flatten()
    att = 16 * torch.softmax(ft.abs().mean(1).flatten() / 0.5, 0)
    w = (att * d).detach()
    fg = torch.tensor([0, 1, 4, 5])
    bg = torch.tensor([i for i in range(16) if i not in fg.tolist()])
    # selected by the attention-weighted D, averaged unweighted
    ref = d[fg[w[fg].topk(2).indices]].mean() \
        + d[bg[w[bg].topk(2).indices]].mean()
    assert loss.item() == pytest.approx(ref.item(), rel=1e-5)
    loss.backward()
    assert fs.grad.abs().sum() > 0


def test_isd_weight_rises_as_teacher_beats_student():
    l_s = torch.tensor([1.0, 1.0, 1.0])
    l_t = torch.tensor([2.0, 1.0, 0.1])
    w = isd_weights(l_s, l_t)
    assert w[0] < 0.5 < w[2]
    assert w[1].item() == pytest.approx(0.5)
    assert w[0].item() == pytest.approx(1 / (1 + torch.e))  # sigmoid(-1)


def test_tsa_weight_grows_with_aspect_smallness_and_progress():
    boxes = torch.tensor([[0., 0., 100., 100.],   # big, square
                          [0., 0., 100., 10.],    # elongated
                          [0., 0., 10., 10.]])    # small
    inst = torch.arange(3)
    ious = torch.full((3, ), 0.5)
    w = tsa_weights(boxes, inst, ious, progress=0.5)
    assert w[0] == pytest.approx(1.0)
    assert w[1] > w[0] and w[2] > w[0]
    ramp = [tsa_weights(boxes, inst, ious, p)[1].item()
            for p in (0, 0.1, 0.25, 0.5, 0.9)]
    assert ramp[0] == 1.0 and ramp[1] < ramp[2] < ramp[3] == ramp[4]
    assert tsa_weights(boxes, inst, torch.ones(3), 0.5).tolist() == [1, 1, 1]


def test_tsa_weight_exact_value():
    """``1 + gamma(p) (a_k + s_k) (1 - IoU)^eta`` by hand, with positives
    assigned to the boxes in another order and several per box."""
    import math
    boxes = torch.tensor([[0., 0., 40., 10.],    # 4:1, area 400
                          [0., 0., 20., 20.],    # 1:1, area 400
                          [0., 0., 10., 40.]])   # 1:4, area 400
    boxes[1] *= 2  # 40 x 40, area 1600
    inst = torch.tensor([2, 0, 0, 1])
    ious = torch.tensor([0.2, 0.5, 0.9, 0.0])
    w = tsa_weights(boxes, inst, ious, progress=0.2, gamma_max=2.0, eta=2.0)
    gamma = 2.0 * 0.2 / 0.5
    a = [1.0, 0.0, 1.0]  # log 4 / log 4, 0, log 4 / log 4
    s = [1 - 20 / 40, 0.0, 1 - 20 / 40]  # 1 - sqrt(area) / sqrt(max area)
    ref = [1 + gamma * (a[k] + s[k]) * (1 - iou)**2
           for k, iou in zip(inst.tolist(), ious.tolist())]
    assert w.tolist() == pytest.approx(ref, rel=1e-6)
    assert w[3].item() == 1.0 and not math.isclose(w[0].item(), 1.0)


def test_isd_loss_reduction_by_hand():
    """Per instance: sigmoid((mean l_s - mean l_t) / tau) times the mean
    imitation of its positives; mean over the instances with positives."""
    from mmrskd.models.det.dynamic_kd import instance_ids, isd_loss
    inst, n = instance_ids([torch.tensor([1, 1, 0]), torch.tensor([0])],
                           [2, 3])
    assert inst.tolist() == [1, 1, 0, 2] and n == 5
    l_s = torch.tensor([2.0, 4.0, 1.0, 1.0])
    l_t = torch.tensor([1.0, 1.0, 1.0, 3.0])
    # the score and box imitation of each positive
    cls = torch.tensor([0.5, 1.0, 1.5, 1.0])
    box = torch.tensor([0.0, 0.5, 0.5, 3.0])
    got = isd_loss(l_s, l_t, cls, box, inst, n, tau_w=2.0, loss_weight=3.0)
    sig = lambda x: 1 / (1 + math.exp(-x))  # noqa: E731
    import math
    ref = 3.0 * (sig((3.0 - 1.0) / 2) * 1.0 + sig(0.0) * 2.0
                 + sig((1.0 - 3.0) / 2) * 4.0) / 3
    assert got.item() == pytest.approx(ref, rel=1e-6)
    # cls_weight / box_weight weigh the two parts: 2 * cls + 0.5 * box
    got = isd_loss(l_s, l_t, cls, box, inst, n, tau_w=2.0, loss_weight=3.0,
                   cls_weight=2.0, box_weight=0.5)
    ref = 3.0 * (sig((3.0 - 1.0) / 2) * 1.625 + sig(0.0) * 3.25
                 + sig((1.0 - 3.0) / 2) * 3.5) / 3
    assert got.item() == pytest.approx(ref, rel=1e-6)


# --------------------------------------------------------- detectors
def _model(path, classes=3):
    import os.path as osp

    import mmdet
    cfg = Config.fromfile(osp.join(mmdet.__path__[0], '.mim', 'configs',
                                   path)).model
    if 'roi_head' in cfg:
        heads = cfg.roi_head.bbox_head
        for h in heads if isinstance(heads, list) else [heads]:
            h.num_classes = classes
    else:
        cfg.bbox_head.num_classes = classes
    cfg.backbone.init_cfg = None
    return cfg


def _r18(cfg):
    cfg = copy.deepcopy(cfg)
    cfg.backbone.depth = 18
    cfg.neck.in_channels = [64, 128, 256, 512]
    return cfg


def _batch(n=2, size=128):
    g = torch.Generator().manual_seed(0)
    inputs = [torch.randint(0, 255, (3, size, size), generator=g,
                            dtype=torch.uint8) for _ in range(n)]
    samples = []
    for i in range(n):
        s = DetDataSample(metainfo=dict(img_shape=(size, size),
                                        ori_shape=(size, size),
                                        scale_factor=(1., 1.)))
        s.gt_instances = InstanceData(
            bboxes=torch.tensor([[10., 10., 60., 30.], [70., 64., 100., 120.]
                                 ]) + i, labels=torch.tensor([0, 2]))
        samples.append(s)
    return dict(inputs=inputs, data_samples=samples)


def test_anchor_head_losses_equal_head_loss_without_isd_tsa():
    student = MODELS.build(_r18(_model('retinanet/retinanet_r50_fpn_1x_coco.py')))
    data = student.data_preprocessor(_batch(), True)
    feats = student.extract_feat(data['inputs'])
    cls, reg = student.bbox_head(feats)
    ours = anchor_head_losses(student.bbox_head, cls, reg,
                              data['data_samples'])
    gts = [s.gt_instances for s in data['data_samples']]
    metas = [s.metainfo for s in data['data_samples']]
    ref = student.bbox_head.loss_by_feat(cls, reg, gts, metas)
    assert ours['loss_cls'].item() == pytest.approx(
        sum(ref['loss_cls']).item(), rel=1e-5)
    assert ours['loss_bbox'].item() == pytest.approx(
        sum(ref['loss_bbox']).item(), rel=1e-5)


@pytest.mark.parametrize('path,isd_tsa', [
    ('retinanet/retinanet_r50_fpn_1x_coco.py', True),
    ('fcos/fcos_r50-caffe_fpn_gn-head_1x_coco.py', True),
    ('faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py', True),
    # GD only: the student's own head losses plus loss_gd
    ('retinanet/retinanet_r50_fpn_1x_coco.py', False),
    ('fcos/fcos_r50-caffe_fpn_gn-head_1x_coco.py', False),
    ('faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py', False),
])
def test_one_distillation_step_per_family(path, isd_tsa):
    teacher = _model(path)
    model = DynamicDetDistiller(
        student=_r18(teacher), teacher=teacher, teacher_ckpt=None,
        allow_random_teacher=True,
        isd=dict() if isd_tsa else None, tsa=dict() if isd_tsa else None)
    model.train()
    before = copy.deepcopy(model.teacher.model.state_dict())
    data = model.data_preprocessor(_batch(), True)
    losses = model(**data, mode='loss')
    assert 'loss_gd' in losses
    if isd_tsa:
        assert {'loss_cls', 'loss_bbox', 'loss_isd'} <= set(losses)
        assert torch.isfinite(losses['loss_isd'])
    else:
        assert 'loss_isd' not in losses
        torch.manual_seed(0)  # the RPN samples proposals at random
        own = model.student.loss(data['inputs'], data['data_samples'])
        torch.manual_seed(0)
        again = model(**data, mode='loss')
        assert set(again) == set(own) | {'loss_gd'}
        for k, v in own.items():
            a = sum(v) if isinstance(v, list) else v
            b = sum(again[k]) if isinstance(again[k], list) else again[k]
            assert torch.allclose(a, b, rtol=1e-5), k
    total = sum(v if torch.is_tensor(v) else sum(v)
                for k, v in losses.items() if 'loss' in k)
    assert torch.isfinite(total)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    opt.zero_grad()
    total.backward()
    opt.step()
    assert model.gd_connectors[0].weight.grad is not None
    after = model.teacher.model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert not any('teacher' in k for k in model.state_dict())
    model.eval()
    with torch.no_grad():
        preds = model(**model.data_preprocessor(_batch(), False),
                      mode='predict')
    assert len(preds) == 2 and 'bboxes' in preds[0].pred_instances


@pytest.mark.parametrize('norm_on_bbox', [False, True])
def test_fcos_losses_equal_head_loss_without_isd_tsa(norm_on_bbox):
    cfg = _r18(_model('fcos/fcos_r50-caffe_fpn_gn-head_1x_coco.py'))
    cfg.bbox_head.norm_on_bbox = norm_on_bbox
    student = MODELS.build(cfg)
    with torch.no_grad():  # boxes of a few pixels, not relu(~0) = 0
        student.bbox_head.conv_reg.bias.fill_(1.0)
    data = student.data_preprocessor(_batch(), True)
    outs = student.bbox_head(student.extract_feat(data['inputs']))
    ours = fcos_head_losses(student.bbox_head, outs, data['data_samples'])
    gts = [s.gt_instances for s in data['data_samples']]
    metas = [s.metainfo for s in data['data_samples']]
    ref = student.bbox_head.loss_by_feat(*outs, gts, metas)
    for key in ('loss_cls', 'loss_bbox', 'loss_centerness'):
        assert ours[key].item() == pytest.approx(ref[key].item(), rel=1e-5)


def test_isd_imitation_zero_for_identical_teacher_positive_otherwise():
    teacher = _model('fcos/fcos_r50-caffe_fpn_gn-head_1x_coco.py')
    student = MODELS.build(_r18(teacher))
    data = student.data_preprocessor(_batch(), True)
    outs = student.bbox_head(student.extract_feat(data['inputs']))
    good = tuple([o.detach().clone() for o in lvl] for lvl in outs)
    bad = tuple([o.detach().clone() for o in lvl] for lvl in outs)
    for m in bad[0]:
        m += 5.0   # confident false positives everywhere: a worse teacher
    # teacher outputs in the student head's own convention (training mode)
    low = fcos_head_losses(student.bbox_head, outs, data['data_samples'],
                           bad, isd=dict(),
                           t_head=student.bbox_head)['loss_isd']
    near = fcos_head_losses(student.bbox_head, outs, data['data_samples'],
                            good, isd=dict(),
                            t_head=student.bbox_head)['loss_isd']
    assert near.item() == pytest.approx(0.0, abs=1e-5)  # identical outputs
    assert low.item() > 0


def test_roi_losses_equal_roi_head_loss_without_isd_tsa():
    student = MODELS.build(_r18(_model(
        'faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py')))
    data = student.data_preprocessor(_batch(), True)
    feats = student.extract_feat(data['inputs'])
    _, proposals = student.rpn_head.loss_and_predict(
        feats, copy.deepcopy(data['data_samples']),
        proposal_cfg=student.train_cfg.rpn_proposal)
    torch.manual_seed(0)
    ours = roi_head_losses(student.roi_head, feats,
                           copy.deepcopy(proposals), data['data_samples'])
    torch.manual_seed(0)  # the RoI sampler is random
    ref = student.roi_head.loss(feats, copy.deepcopy(proposals),
                                data['data_samples'])
    for key in ('loss_cls', 'loss_bbox'):
        assert ours[key].item() == pytest.approx(ref[key].item(), rel=1e-5)


def test_isd_tsa_refused_for_other_heads():
    teacher = _model('cascade_rcnn/cascade-rcnn_r50_fpn_1x_coco.py')
    with pytest.raises(NotImplementedError, match='Set isd=None'):
        DynamicDetDistiller(student=_r18(teacher), teacher=teacher,
                            allow_random_teacher=True)


@pytest.mark.parametrize('method', ['fgd', 'pkd', 'cwd', 'mgd'])
def test_feature_baseline_next_to_gd_isd_tsa(method):
    """A detection baseline as a distill loss next to GD/ISD/TSA, built
    from its config entry under the mmdet scope."""
    import os.path as osp

    cfg = Config.fromfile(osp.join(
        osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))),
        'configs', '_base_', 'distill', f'det_{method}.py'))
    teacher = _model('retinanet/retinanet_r50_fpn_1x_coco.py')
    model = DynamicDetDistiller(
        student=_r18(teacher), teacher=teacher, teacher_ckpt=None,
        allow_random_teacher=True,
        distill_losses={f'loss_{method}': cfg[f'{method}_loss']})
    model.train()
    losses = model(**model.data_preprocessor(_batch(), True), mode='loss')
    assert {'loss_gd', 'loss_isd', f'loss_{method}'} <= set(losses)
    loss = losses[f'loss_{method}']
    assert torch.isfinite(loss) and loss > 0
    loss.backward()
    grads = [p.grad for p in model.student.neck.parameters()]
    assert any(g is not None and g.abs().sum() > 0 for g in grads)
    assert all(p.grad is None for p in model.teacher.model.parameters())


@pytest.mark.parametrize('path,family', [
    ('faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py', 'two_stage'),
    ('fcos/fcos_r50-caffe_fpn_gn-head_1x_coco.py', 'anchor_free'),
])
def test_feature_baselines_at_their_family_settings(path, family):
    """The four baselines at the settings of the other two families
    (<method>_loss_two_stage / _anchor_free of _base_/distill), as the
    faster-rcnn / fcos / oriented-rcnn / rotated-fcos configs use them:
    built from those entries, alone (GD/ISD/TSA off) beside the head's own
    losses, positive, and training the student's neck only."""
    import os.path as osp

    base = osp.join(osp.dirname(osp.dirname(osp.dirname(osp.abspath(
        __file__)))), 'configs', '_base_', 'distill')
    losses = {}
    for method in ('fgd', 'pkd', 'cwd', 'mgd'):
        cfg = Config.fromfile(osp.join(base, f'det_{method}.py'))
        losses[f'loss_{method}'] = cfg[f'{method}_loss_{family}']
    student = _r18(_model(path))  # an R18 teacher: the settings are tested
    model = DynamicDetDistiller(
        student=student, teacher=student, teacher_ckpt=None,
        allow_random_teacher=True, gd=None, isd=None, tsa=None,
        distill_losses=losses)
    model.train()
    out = model(**model.data_preprocessor(_batch(), True), mode='loss')
    assert set(losses) <= set(out) and 'loss_gd' not in out
    for name in losses:
        assert torch.isfinite(out[name]) and out[name] > 0, name
    sum(out[name] for name in losses).backward()
    grads = [p.grad for p in model.student.neck.parameters()]
    assert any(g is not None and g.abs().sum() > 0 for g in grads)
    assert all(p.grad is None for p in model.teacher.model.parameters())
