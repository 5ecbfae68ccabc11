"""mmrskd/compat.py: the private mmpretrain/mmdet methods mmrskd calls, and
the error when an installed version no longer has one."""
import pytest
import torch

from mmrskd.compat import cls_head_loss, private_method, roi_bbox_forward
from mmrskd.version import SUPPORTED


def test_cls_head_loss_is_the_heads_own_loss():
    from mmpretrain.models.heads import LinearClsHead
    from mmpretrain.structures import DataSample
    head = LinearClsHead(num_classes=3, in_channels=4)
    logits = torch.randn(2, 3)
    samples = [DataSample().set_gt_label(i) for i in (0, 2)]
    got = cls_head_loss(head, logits, samples)
    assert set(got) == {'loss'}
    torch.testing.assert_close(got['loss'],
                               head._get_loss(logits, samples)['loss'])


def test_roi_bbox_forward_calls_the_roi_head():
    class RoIHead:
        def _bbox_forward(self, feats, rois):
            return dict(cls_score=feats[0] + rois)

    out = roi_bbox_forward(RoIHead(), [torch.ones(2)], torch.ones(2))
    torch.testing.assert_close(out['cls_score'], torch.full((2, ), 2.))


@pytest.mark.parametrize('call,owner,name,package', [
    (lambda obj: cls_head_loss(obj, None, []), 'ClsHead', '_get_loss',
     'mmpretrain'),
    (lambda obj: roi_bbox_forward(obj, [], None), 'StandardRoIHead',
     '_bbox_forward', 'mmdet'),
])
def test_a_missing_private_method_names_it_and_the_versions(
        call, owner, name, package):
    obj = type(owner, (), {})()  # a class of another version, without it
    low, high = SUPPORTED[package]
    with pytest.raises(AttributeError) as err:
        call(obj)
    text = str(err.value)
    assert text.startswith(f'{owner} has no method {name}: mmrskd calls this '
                           f'private {package} method (mmrskd/compat.py), '
                           f'written for {package}>={low},<{high}')
    assert 'requirements/runtime.txt' in text


def test_private_method_returns_the_bound_method():
    class Head:
        def _get_loss(self):
            return 'ok'

    assert private_method(Head(), '_get_loss', 'mmpretrain')() == 'ok'
