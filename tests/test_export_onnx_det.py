"""tools/deploy/export_onnx.py on detection configs: the graph (the data
preprocessor's normalisation, backbone, neck, dense head) gives torch's raw
head outputs on raw images for RetinaNet, FCOS and Faster R-CNN's RPN, from
distiller and plain checkpoints; decoding them with mmdet's
``predict_by_feat`` and nothing but the sidecar's settings gives the boxes
of ``model.predict``."""
import copy
import json
import os.path as osp

import numpy as np
import onnxruntime  # noqa: F401  (requirements/deploy.txt; never skipped)
import pytest
import torch
from mmengine.config import ConfigDict

from mmrskd.apis import cli
from mmrskd.apis.deploy_model import build_model, pipeline_input_size
from mmrskd.apis.export_onnx import build_student
from mmrskd.apis.export_onnx_det import split_outputs
from mmrskd.apis.onnx_graph import ort_session

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
SIZE = 128
#: arch -> (plain student config, distiller config, checkpoint layout,
#: dynamic batch, (the head's classification conv, its bias, weight std))
CASES = {
    'retinanet': ('retinanet_r18_fpn_dota.py',
                  'dynkd_retinanet_r50_r18_dota.py', 'distiller', True,
                  ('bbox_head.retina_cls', -4.595, 0.01)),
    'fcos': ('fcos_r18_fpn_dota.py', 'dynkd_fcos_r50_r18_dota.py', 'plain',
             False, ('bbox_head.conv_cls', -4.595, 0.03)),
    'faster-rcnn': ('faster-rcnn_r18_fpn_dota.py',
                    'dynkd_faster-rcnn_r50_r18_dota.py', 'distiller', True,
                    ('rpn_head.rpn_cls', 0., 0.1)),
}


def _config(name):
    return osp.join(ROOT, 'configs', name)


def _random_student(arch):
    """The R18 student with random weights, non-trivial BN statistics and
    class logits around mmdet's initial prior (RetinaNet, FCOS: 0.01), spread
    out so that a few hundred boxes pass score_thr."""
    torch.manual_seed(0)
    model = build_model(cli.load_config(_config(CASES[arch][0])))
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    name, bias, std = CASES[arch][4]
    with torch.no_grad():
        model.get_submodule(name).weight.normal_(0, std)
        model.get_submodule(name).bias.fill_(bias)
    return model.eval()


@pytest.fixture(scope='module', params=list(CASES))
def exported(request, tmp_path_factory):
    """(arch, model, onnx path, sidecar) of each student, exported through
    the tool from the checkpoint layout its case names."""
    arch = request.param
    plain_cfg, distill_cfg, layout, dynamic, _ = CASES[arch]
    model = _random_student(arch)
    tmp = tmp_path_factory.mktemp(arch)
    state = model.state_dict()
    ckpt, config = str(tmp / 'epoch_1.pth'), _config(plain_cfg)
    if layout == 'distiller':
        state = {**{f'student.{k}': v for k, v in state.items()},
                 'gd_connectors.0.weight': torch.zeros(1)}
        config = _config(distill_cfg)
    torch.save({'state_dict': state}, ckpt)
    out = str(tmp / f'{arch}.onnx')
    from tools.deploy import export_onnx as tool
    info = tool.main([config, ckpt, out, '--shape', str(SIZE), str(SIZE)] +
                     (['--dynamic-batch'] if dynamic else []))
    side = json.load(open(osp.join(tmp, f'{arch}.json')))
    assert side == info
    return arch, model, out, side


def _images(n):
    g = torch.Generator().manual_seed(3)
    return torch.randint(0, 256, (n, 3, SIZE, SIZE), generator=g,
                         dtype=torch.uint8)


def _batch(side):
    return 2 if side['input']['shape'][0] == 'batch' else 1


@torch.no_grad()
def _mmdet_inputs(model, images):
    """mmdet's own test path on raw images: the data preprocessor, with the
    image metas of a 256 px image resized to 128 px."""
    from mmdet.structures import DetDataSample
    metas = dict(img_shape=(SIZE, SIZE), ori_shape=(2 * SIZE, 2 * SIZE),
                 scale_factor=(0.5, 0.5))
    samples = [DetDataSample(metainfo=metas) for _ in images]
    data = model.data_preprocessor(
        {'inputs': list(images), 'data_samples': samples}, False)
    return data['inputs'], data['data_samples']


def _run(path, images):
    return ort_session(path).run(None, {'input': images.float().numpy()})


def test_onnx_outputs_match_the_heads_outputs(exported):
    arch, model, out, side = exported
    images = _images(_batch(side))
    inputs, _ = _mmdet_inputs(model, images)
    head = model.rpn_head if arch == 'faster-rcnn' else model.bbox_head
    with torch.no_grad():
        ref = [t for group in head(model.extract_feat(inputs))
               for t in group]
    got = _run(out, images)
    assert len(got) == len(ref) == len(side['outputs'])
    for g, r, o in zip(got, ref, side['outputs']):
        assert g.shape == tuple(r.shape) and o['shape'][1:] == list(
            r.shape[1:])
        np.testing.assert_allclose(g, r.numpy(), rtol=1e-4, atol=1e-4,
                                   err_msg=o['name'])
    assert side['check']['onnxruntime_max_abs_diff'] <= 1e-3


def _sidecar_head(model, side):
    """The dense head with its priors, box coder and test config rebuilt
    from the sidecar alone."""
    from mmdet.registry import TASK_UTILS
    head = copy.deepcopy(getattr(model, side['head']['module']))
    head.prior_generator = TASK_UTILS.build(side['priors']['generator'])
    head.bbox_coder = TASK_UTILS.build(side['bbox_coder'])
    return head, ConfigDict(side['test_cfg'])


def test_sidecar_decodes_to_model_predict(exported):
    arch, model, out, side = exported
    images = _images(_batch(side))
    inputs, samples = _mmdet_inputs(model, images)
    head, cfg = _sidecar_head(model, side)
    outs = [torch.from_numpy(o) for o in _run(out, images)]
    rpn = arch == 'faster-rcnn'
    got = head.predict_by_feat(
        *split_outputs(outs, len(side['kinds'])),
        batch_img_metas=[s.metainfo for s in samples], cfg=cfg,
        rescale=not rpn)
    with torch.no_grad():
        if rpn:  # the proposals the RoI stage would get
            ref = model.rpn_head.predict(model.extract_feat(inputs), samples,
                                         rescale=False)
        else:
            ref = [s.pred_instances for s in model.predict(inputs, samples)]
    for g, r in zip(got, ref):
        _assert_same_detections(g, r)


def _assert_same_detections(got, ref):
    """The same boxes, scores and labels, in any order (two boxes whose
    scores differ by less than the graph's rounding, 1e-6, may swap)."""
    assert 0 < len(ref.bboxes) == len(got.bboxes)
    def rows(d):
        return torch.cat([d.bboxes, 1e3 * d.scores[:, None]], 1)
    dist = (rows(got)[:, None] - rows(ref)[None]).abs().amax(-1)
    match = dist.argmin(1)
    assert sorted(match.tolist()) == list(range(len(ref.bboxes)))
    assert dist.min(1).values.max() < 1e-2
    assert torch.equal(got.labels, ref.labels[match])


def test_sidecar_describes_outputs_and_postprocess(exported):
    arch, model, _, side = exported
    levels = [2, 3, 4, 5, 6] if arch == 'faster-rcnn' else [3, 4, 5, 6, 7]
    kinds = ['cls_score', 'bbox_pred'] + (['centerness'] if arch == 'fcos'
                                          else [])
    prefix = 'rpn_' if arch == 'faster-rcnn' else ''
    assert [o['name'] for o in side['outputs']] == [
        f'{prefix}{k}_p{lv}' for k in kinds for lv in levels]
    assert [o['stride'] for o in side['outputs']][:5] == [
        2**lv for lv in levels]
    assert side['outputs'][0]['shape'][2:] == [SIZE // 2**levels[0]] * 2
    assert side['preprocessing_in_graph']['mean'] == [123.675, 116.28,
                                                      103.53]
    assert side['preprocessing_in_graph']['channel_swap'] is True
    assert side['postprocess']['in_graph'] is False
    assert any('NMS' in step for step in side['postprocess']['steps'])
    assert 'NonMaxSuppression' in side['mmdeploy']
    assert side['num_classes'] == 15 and len(side['classes']) == 15
    assert ('not_in_graph' in side) == (arch == 'faster-rcnn')
    if arch == 'faster-rcnn':
        assert side['not_in_graph']['roi_align']['output_size'] == [7, 7]
        assert side['head']['num_classes'] == 1  # the RPN's


def test_detection_config_size_and_refusals(tmp_path):
    cfg = cli.load_config(_config('retinanet_r18_fpn_dota.py'))
    # Resize(scale=(1024, 1024), keep_ratio=True): the box images fit in
    assert pipeline_input_size(cfg, keep_ratio=True) == (1024, 1024)
    assert pipeline_input_size(cfg) is None
    from tools.deploy import export_onnx as tool
    with pytest.raises(SystemExit, match='--softmax applies to classifiers'):
        tool.main([_config('retinanet_r18_fpn_dota.py'), 'x.pth',
                   str(tmp_path / 'x.onnx'), '--softmax'])
    with pytest.raises(ValueError, match='export_onnx_det'):
        build_student(cli.load_config(_config('fcos_r18_fpn_dota.py')))
