"""A distillation loss's ``inputs`` are checked against its ``forward``
signature when the distiller is built (mmrskd/models/distillers/
loss_inputs.py): a wrong name or count is a build-time error naming the
loss and the argument (every shipped config builds through the check in
tests/test_configs.py)."""
import pytest
import torch
from mmengine.registry import init_default_scope
from mmpretrain.structures import DataSample

from mmrskd.models import ClsDistiller
from mmrskd.models.distillers.loss_inputs import check_loss_inputs

from .test_cls_distiller import classifier


def _distiller(**losses) -> ClsDistiller:
    init_default_scope('mmpretrain')
    return ClsDistiller(student=classifier(18), teacher=classifier(18),
                        teacher_ckpt=None, allow_random_teacher=True,
                        distill_losses=losses)


# ------------------------------------------------- the signature check


def _two(a, b):
    pass


def _two_or_three(a, b, c=None):
    pass


def _any_number(*feats):
    pass


def _one_and_kwargs(a, **kwargs):
    pass


def _keyword_only(a, *, b):
    pass


@pytest.mark.parametrize('forward,inputs', [
    (_two, ['x', 'y']),
    (_two_or_three, ['x', 'y']),
    (_two_or_three, ['x', 'y', 'z']),
    (_any_number, []),
    (_any_number, ['x'] * 8),
    (_one_and_kwargs, ['x']),
    (_two, {'a': 'x', 'b': 'y'}),
    (_two_or_three, {'b': 'y', 'a': 'x'}),
    (_one_and_kwargs, {'a': 'x', 'anything': 'y'}),
    (_keyword_only, {'a': 'x', 'b': 'y'}),
    (_two, [('x', 'y'), 'z']),
])
def test_inputs_that_fit(forward, inputs):
    check_loss_inputs('loss', forward, inputs)


@pytest.mark.parametrize('forward,inputs,fragment', [
    (_two, ['x'], "nothing for ['b']"),
    (_two, ['x', 'y', 'z'], "no parameter for ['z']"),
    (_two_or_three, ['w', 'x', 'y', 'z'], 'takes at most 3 positional'),
    (_one_and_kwargs, ['x', 'y'], "no parameter for ['y']"),
    (_keyword_only, ['x'], "keyword-only argument(s) ['b']"),
    (_two, {'a': 'x', 'c': 'y'}, "no keyword argument 'c'"),
    (_two, {'a': 'x'}, "required argument(s) ['b']"),
    (_any_number, {'feats': 'x'}, "no keyword argument 'feats'"),
])
def test_inputs_that_do_not_fit(forward, inputs, fragment):
    with pytest.raises(TypeError) as err:
        check_loss_inputs('distill_losses.loss_x (XLoss)', forward, inputs)
    assert str(err.value).startswith('distill_losses.loss_x (XLoss): forward(')
    assert fragment in str(err.value)


# ------------------------------------------- at the distiller's build


def test_wrong_name():
    # a keyword the loss's forward does not have
    with pytest.raises(TypeError, match=(
            r"distill_losses\.loss_kd \(KDLoss\): forward\(student_logits, "
            r"teacher_logits, labels\) has no keyword argument 'teacher'")):
        _distiller(loss_kd=dict(type='KDLoss', inputs=dict(
            student_logits='student.logits', teacher='teacher.logits')))
    # a source the model does not have
    with pytest.raises(KeyError, match=(
            r'distill_losses\.loss_kd \(KDLoss\): The teacher has no module '
            r'"logit"')):
        _distiller(loss_kd=dict(type='KDLoss', inputs=[
            'student.logits', 'teacher.logit']))


def test_too_many_inputs():
    with pytest.raises(TypeError, match=(
            r"distill_losses\.loss_kd \(KDLoss\): forward\(student_logits, "
            r"teacher_logits, labels\) takes at most 3 positional "
            r"argument\(s\), its inputs give 4: no parameter for "
            r"\['sample_idx'\]")):
        _distiller(loss_kd=dict(type='KDLoss', inputs=[
            'student.logits', 'teacher.logits', 'labels', 'sample_idx']))


def test_too_few_inputs():
    with pytest.raises(TypeError, match=(
            r"distill_losses\.loss_dkd \(DKDLoss\): forward\(student_logits, "
            r"teacher_logits, labels\) needs 3 positional argument\(s\), its "
            r"inputs give 2: nothing for \['labels'\]")):
        _distiller(loss_dkd=dict(type='DKDLoss', inputs=[
            'student.logits', 'teacher.logits']))
    # the optional ``labels`` of KD may be left out
    _distiller(loss_kd=dict(type='KDLoss', inputs=[
        'student.logits', 'teacher.logits']))


def test_keyword_inputs_reach_the_loss_as_positional_ones():
    torch.manual_seed(0)
    model = _distiller(
        loss_kd=dict(type='KDLoss'),
        loss_dkd=dict(type='DKDLoss', warmup_epochs=0, inputs=dict(
            labels='labels', teacher_logits='teacher.logits',
            student_logits='student.logits')),
        loss_ref=dict(type='DKDLoss', warmup_epochs=0))
    assert model.loss_inputs['loss_kd'] == [
        'student.logits', 'teacher.logits', 'labels']
    g = torch.Generator().manual_seed(0)
    data = model.data_preprocessor(dict(
        inputs=[torch.randint(0, 255, (3, 32, 32), generator=g,
                              dtype=torch.uint8) for _ in range(4)],
        data_samples=[DataSample().set_gt_label(i) for i in range(4)]), True)
    losses = model(**data, mode='loss')
    assert losses['loss_dkd'].item() == pytest.approx(
        losses['loss_ref'].item(), rel=1e-6)
    assert losses['loss_dkd'].item() > 0

# Every shipped config builds through the check: tests/test_configs.py.
