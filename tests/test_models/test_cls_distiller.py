import copy

import pytest
import torch
import torch.nn as nn
from mmengine.registry import init_default_scope
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

from mmrskd.apis import export_student
from mmrskd.models import ClsDistiller, TeacherCheckpointError

NUM_CLASSES = 4


def classifier(depth=18, num_classes=NUM_CLASSES):
    return dict(
        type='ImageClassifier',
        backbone=dict(type='ResNet', depth=depth, num_stages=4,
                      out_indices=(3, )),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='LinearClsHead', num_classes=num_classes,
                  in_channels=512,
                  loss=dict(type='CrossEntropyLoss', loss_weight=1.0)),
        data_preprocessor=dict(mean=[127.5] * 3, std=[64.0] * 3))


@pytest.fixture(autouse=True)
def _scope():
    init_default_scope('mmpretrain')


@pytest.fixture(scope='module')
def teacher_ckpt(tmp_path_factory):
    init_default_scope('mmpretrain')
    torch.manual_seed(0)
    model = MODELS.build(classifier(34))
    path = tmp_path_factory.mktemp('teacher') / 'teacher.pth'
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, path)
    return str(path)


def distiller(teacher_ckpt, losses=None, **kwargs):
    losses = losses if losses is not None else dict(
        loss_isdm=dict(type='ISDMLoss'))
    return ClsDistiller(student=classifier(18), teacher=classifier(34),
                        teacher_ckpt=teacher_ckpt, distill_losses=losses,
                        **kwargs)


def batch(n=4, size=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    inputs = [torch.randint(0, 255, (3, size, size), generator=g,
                            dtype=torch.uint8) for _ in range(n)]
    samples = [DataSample().set_gt_label(i % NUM_CLASSES) for i in range(n)]
    return dict(inputs=inputs, data_samples=samples)


def test_loss_keys_and_student_only_trainable(teacher_ckpt):
    model = distiller(teacher_ckpt, dict(
        loss_kd=dict(type='KDLoss'), loss_isdm=dict(type='ISDMLoss')))
    data = model.data_preprocessor(batch(), True)
    losses = model(**data, mode='loss')
    assert set(losses) == {'loss_cls', 'loss_kd', 'loss_isdm'}
    assert all(torch.isfinite(v) for v in losses.values())
    names = [n for n, _ in model.named_parameters()]
    assert all(n.startswith(('student.', 'distill_losses.')) for n in names)
    assert not any('teacher' in k for k in model.state_dict())
    assert any(k.startswith('distill_losses.loss_isdm.scaler')
               for k in model.state_dict())
    assert not any(p.requires_grad for p in model.teacher.model.parameters())


def test_teacher_frozen_eval_and_unchanged_by_training(teacher_ckpt):
    model = distiller(teacher_ckpt)
    model.train()
    assert not model.teacher.model.training
    before = copy.deepcopy(model.teacher.model.state_dict())
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    for seed in range(2):
        data = model.data_preprocessor(batch(seed=seed), True)
        loss = sum(model(**data, mode='loss').values())
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = model.teacher.model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert not model.teacher.model.training


def test_teacher_loaded_from_checkpoint(teacher_ckpt):
    model = distiller(teacher_ckpt)
    saved = torch.load(teacher_ckpt, weights_only=True)['state_dict']
    own = model.teacher.model.state_dict()
    assert all(torch.equal(saved[k], own[k]) for k in saved)


def test_predict_and_tensor_never_touch_teacher(teacher_ckpt, monkeypatch):
    model = distiller(teacher_ckpt)

    def boom(*args, **kwargs):
        raise AssertionError('teacher called')

    monkeypatch.setattr(model.teacher.model, 'forward', boom)
    monkeypatch.setattr(model.teacher.model, 'extract_feat', boom)
    data = model.data_preprocessor(batch(), False)
    preds = model(**data, mode='predict')
    assert len(preds) == 4 and preds[0].pred_score.shape == (NUM_CLASSES, )
    assert model(data['inputs'], mode='tensor').shape == (4, NUM_CLASSES)


def test_missing_checkpoint_is_named(tmp_path):
    missing = str(tmp_path / 'nope.pth')
    with pytest.raises(TeacherCheckpointError, match='nope.pth.*does not '
                       'exist.*Train the teacher first'):
        distiller(missing)


def test_teacher_of_other_architecture(tmp_path):
    path = tmp_path / 'r18.pth'
    torch.save({'state_dict': MODELS.build(classifier(18)).state_dict()},
               path)
    with pytest.raises(TeacherCheckpointError,
                       match=r'r18.pth" does not match .*missing key'):
        distiller(str(path))


def test_teacher_with_other_class_count(teacher_ckpt, tmp_path):
    with pytest.raises(ValueError, match='teacher predicts 7 classes, the '
                       'student 4'):
        ClsDistiller(student=classifier(18), teacher=classifier(34, 7),
                     teacher_ckpt=None, allow_random_teacher=True,
                     distill_losses=dict(loss_kd=dict(type='KDLoss')))
    # a checkpoint with another head shape
    path = tmp_path / 'seven.pth'
    torch.save(MODELS.build(classifier(34, 7)).state_dict(), path)
    with pytest.raises(TeacherCheckpointError, match='other shapes'):
        distiller(str(path))


def test_bad_loss_config(teacher_ckpt):
    with pytest.raises(KeyError, match='must start with "loss_"'):
        distiller(teacher_ckpt, dict(kd=dict(type='KDLoss')))
    with pytest.raises(KeyError, match='no module "backbone.layer9"'):
        distiller(teacher_ckpt, dict(loss_x=dict(
            type='KDLoss', inputs=['student.backbone.layer9',
                                   'teacher.logits'])))
    with pytest.raises(TypeError, match='distill_losses.loss_kd .KDLoss.'):
        distiller(teacher_ckpt, dict(loss_kd=dict(type='KDLoss', temprature=4)))


@MODELS.register_module(force=True)
class _FeatureMSEForTest(nn.Module):

    def forward(self, fs, ft):
        self.shapes = (fs.shape, ft.shape, ft.requires_grad)
        return ((fs.mean((2, 3)) - ft.mean((2, 3)))**2).mean()


def test_features_captured_from_named_modules(teacher_ckpt):
    model = distiller(teacher_ckpt, dict(loss_feat=dict(
        type='_FeatureMSEForTest',
        inputs=['student.backbone.layer4', 'teacher.backbone.layer4'])))
    data = model.data_preprocessor(batch(size=64), True)
    losses = model(**data, mode='loss')
    fs, ft, t_grad = model.distill_losses['loss_feat'].shapes
    assert fs == ft == torch.Size([4, 512, 2, 2])
    assert not t_grad
    losses['loss_feat'].backward()
    assert model.student.backbone.layer4[0].conv1.weight.grad is not None


def test_mixup_soft_labels(teacher_ckpt):
    student = classifier(18)
    student['train_cfg'] = dict(augments=dict(type='Mixup', alpha=1.0))
    student['data_preprocessor']['num_classes'] = NUM_CLASSES
    model = ClsDistiller(student=student, teacher=classifier(34),
                         teacher_ckpt=teacher_ckpt, distill_losses=dict(
                             loss_dkd=dict(type='DKDLoss'),
                             loss_isdm=dict(type='ISDMLoss')))
    data = model.data_preprocessor(batch(), True)
    assert 'gt_score' in data['data_samples'][0]
    losses = model(**data, mode='loss')
    assert all(torch.isfinite(v) for v in losses.values())


def test_teacher_data_preprocessor(teacher_ckpt):
    model = distiller(teacher_ckpt, teacher_data_preprocessor=dict(
        type='ClsDataPreprocessor', mean=[0.] * 3, std=[255.] * 3))
    data = model.data_preprocessor(batch(), True)
    assert data['teacher_inputs'].max() <= 1.0 < data['inputs'].max()
    seen = {}
    model.teacher.model.backbone.register_forward_pre_hook(
        lambda m, a: seen.setdefault('x', a[0]))
    model(**data, mode='loss')
    assert torch.equal(seen['x'], data['teacher_inputs'])
    assert 'teacher_inputs' not in model.data_preprocessor(batch(), False)
    student = classifier(18)
    student['train_cfg'] = dict(augments=dict(type='Mixup', alpha=1.0))
    with pytest.raises(ValueError, match='batch augmentations'):
        ClsDistiller(student=student, teacher=classifier(34),
                     teacher_ckpt=teacher_ckpt,
                     distill_losses=dict(loss_kd=dict(type='KDLoss')),
                     teacher_data_preprocessor=dict(type='ClsDataPreprocessor'))


def test_export_loads_into_bare_classifier(teacher_ckpt, tmp_path):
    model = distiller(teacher_ckpt)
    src = tmp_path / 'distill.pth'
    torch.save({'state_dict': model.state_dict(), 'meta': {'epoch': 3}}, src)
    dst = export_student(str(src), str(tmp_path / 'student.pth'))
    bare = MODELS.build(classifier(18))
    state = torch.load(dst, weights_only=True)['state_dict']
    bare.load_state_dict(state, strict=True)
    model.eval()
    bare.eval()
    data = model.data_preprocessor(batch(), False)
    a = model(**data, mode='tensor')
    b = bare(data['inputs'], mode='tensor')
    assert torch.allclose(a, b)
    with pytest.raises(KeyError, match='not a checkpoint of an mmrskd'):
        export_student(teacher_ckpt, str(tmp_path / 'x.pth'))


def test_feature_hooks_only_hold_maps_during_the_loss_pass(teacher_ckpt):
    model = distiller(teacher_ckpt, dict(loss_feat=dict(
        type='_FeatureMSEForTest',
        inputs=['student.backbone.layer4', 'teacher.backbone.layer4'])))
    model.eval()
    model(**model.data_preprocessor(batch(size=64), False), mode='predict')
    assert len(model._captured) == 0
    model.train()
    model(**model.data_preprocessor(batch(size=64), True), mode='loss')
    assert len(model._captured) == 0 and not model._captured.active


@MODELS.register_module(force=True)
class _RecordingLoss(nn.Module):
    """Records what the distiller passes; returns 0 with a graph."""
    seen = []

    def forward(self, *args):
        _RecordingLoss.seen.append(args)
        return sum(a.float().sum() * 0 for a in args
                   if isinstance(a, torch.Tensor) and a.is_floating_point())


def test_sample_index_and_classifier_sources(teacher_ckpt):
    """'sample_idx' holds the samples' dataset indices; the classifier
    sources are the heads' fc layers, the teacher's frozen."""
    model = distiller(teacher_ckpt, dict(loss_rec=dict(
        type='_RecordingLoss',
        inputs=['student.backbone.layer4', 'sample_idx',
                'student.classifier', 'teacher.classifier'])))
    data = batch()
    for i, s in enumerate(data['data_samples']):
        s.set_metainfo(dict(sample_idx=10 + 3 * i))
    _RecordingLoss.seen.clear()
    model(**model.data_preprocessor(data, True), mode='loss')
    feat, idx, s_fc, t_fc = _RecordingLoss.seen[-1]
    assert idx.dtype == torch.long and idx.tolist() == [10, 13, 16, 19]
    assert s_fc is model.student.head.fc
    assert t_fc is model.teacher.model.head.fc
    assert s_fc(feat.mean((2, 3))).shape == (4, NUM_CLASSES)
    assert not any(p.requires_grad for p in t_fc.parameters())
    # a batch whose samples lost their index is named
    data = batch()
    with pytest.raises(KeyError, match="needs each data sample's "
                       'sample_idx'):
        model(**model.data_preprocessor(data, True), mode='loss')


def test_a_list_of_sources_reaches_the_loss_as_a_tuple(teacher_ckpt):
    """inputs=[[...], [...]] gives a multi-layer loss one tuple per side."""
    model = distiller(teacher_ckpt, dict(loss_at=dict(
        type='ATLoss',
        inputs=[['student.backbone.layer3', 'student.backbone.layer4'],
                ['teacher.backbone.layer3', 'teacher.backbone.layer4']]),
        loss_rec=dict(type='_RecordingLoss', inputs=[
            ['student.backbone.layer3', 'student.backbone.layer4'],
            'teacher.backbone.layer4'])))
    _RecordingLoss.seen.clear()
    losses = model(**model.data_preprocessor(batch(size=64), True),
                   mode='loss')
    (l3, l4), t4 = _RecordingLoss.seen[-1]
    assert l3.shape == (4, 256, 4, 4) and l4.shape == t4.shape == \
        (4, 512, 2, 2)
    assert torch.isfinite(losses['loss_at']) and losses['loss_at'] > 0
    with pytest.raises(KeyError, match='unknown source "stuff"'):
        distiller(teacher_ckpt, dict(loss_at=dict(
            type='ATLoss', inputs=[['stuff'], ['teacher.backbone.layer4']])))


def test_two_views_feed_logit_losses_and_sum_the_cross_entropy(teacher_ckpt):
    """views=2 (a MultiView pipeline): each loss reads its view's logits,
    the student's cross-entropy is the sum over the views; both collate
    layouts (pseudo_collate: views per sample; default_collate: one stacked
    batch per view) give the same losses."""
    model = distiller(teacher_ckpt, dict(
        loss_w=dict(type='_RecordingLoss'),
        loss_s=dict(type='_RecordingLoss', inputs=[
            'student.logits.view1', 'teacher.logits.view1', 'labels'])),
        views=2)
    model.train()
    weak, strong = batch(seed=1), batch(seed=2)
    samples = weak['data_samples']
    per_sample = dict(inputs=[[a, b] for a, b in zip(weak['inputs'],
                                                     strong['inputs'])],
                      data_samples=samples)
    _RecordingLoss.seen.clear()
    data = model.data_preprocessor(per_sample, True)
    assert isinstance(data['inputs'], list) and len(data['inputs']) == 2
    losses = model(**data, mode='loss')
    (zs_w, zt_w, _), (zs_s, zt_s, _) = _RecordingLoss.seen[-2:]
    single = model.student.data_preprocessor
    x_w = single(dict(inputs=weak['inputs'], data_samples=samples),
                 True)['inputs']
    x_s = single(dict(inputs=strong['inputs'], data_samples=samples),
                 True)['inputs']
    with torch.no_grad():
        ref_s = model.student.head(model.student.extract_feat(x_s))
        ref_t = model.teacher.model.head(model.teacher.model.extract_feat(
            x_s))
        ce = sum(model.student.head._get_loss(
            model.student.head(model.student.extract_feat(x)),
            samples)['loss'] for x in (x_w, x_s))
    assert torch.allclose(zs_s, ref_s, atol=1e-5)
    assert torch.allclose(zt_s, ref_t, atol=1e-5)
    assert not torch.allclose(zs_w, zs_s)
    assert losses['loss_cls'].item() == pytest.approx(ce.item(), rel=1e-5)
    stacked = dict(inputs=[torch.stack(weak['inputs']),
                           torch.stack(strong['inputs'])],
                   data_samples=samples)
    again = model(**model.data_preprocessor(stacked, True), mode='loss')
    assert again['loss_cls'].item() == pytest.approx(
        losses['loss_cls'].item(), rel=1e-5)
    # feature sources, or view sources without views, are refused
    with pytest.raises(ValueError, match='multi-view training'):
        distiller(teacher_ckpt, dict(loss_f=dict(
            type='_RecordingLoss', inputs=['student.backbone.layer4'])),
            views=2)
    with pytest.raises(ValueError, match='views=1'):
        distiller(teacher_ckpt, dict(loss_f=dict(
            type='KDLoss', inputs=['student.logits.view1',
                                   'teacher.logits.view1', 'labels'])))
