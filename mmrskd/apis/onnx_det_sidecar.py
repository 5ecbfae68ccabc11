"""The JSON sidecar of a detection student's ONNX graph
(:mod:`.export_onnx_det`): its outputs, the settings that decode them
(priors, box coder, test config), the postprocessing steps the graph
leaves out, and what mmdeploy would add.

The settings of the prior generator and the box coder are those that
rebuild them with mmdet's ``TASK_UTILS.build``: the detection export test
decodes the graph's outputs with heads rebuilt from the sidecar alone. The
``module`` arguments are :class:`~.export_onnx_det.DeployDetector` s.
"""
import copy
from typing import List, Optional, Tuple

import torch
import torch.nn as nn
from mmengine.config import ConfigDict

from ..models.distillers.teacher import count_classes
from .onnx_graph import describe_input, exporter_info, rounded

KIND_NOTES = {
    'cls_score': 'class logits, channel a * C + c for prior a of the '
                 'location and class c (C = head.cls_out_channels)',
    'bbox_pred': 'box regression, channel a * 4 + j for prior a of the '
                 'location: decode with bbox_coder against the prior',
    'centerness': 'centerness logit (mmdet score_factors): its sigmoid '
                  'multiplies the class scores before NMS',
}
PREDICT_ARGS = ('cls_scores', 'bbox_preds', 'score_factors')
INPUT_NOTE = (
    'raw 8-bit pixel values as float32, not normalised; resize keeping the '
    'aspect ratio as the test pipeline does (Resize keep_ratio: to fit the '
    "pipeline's scale) and pad bottom/right to H x W with the mean pixel "
    '(mmdet pads with 0 after normalisation); boxes come out in the '
    'pixels of the resized image: divide by the resize factor '
    '(scale_factor) for the original image')
LAYOUT_NOTE = (
    'every output is (N, A * K, H_l, W_l) at level l (stride 2**l; A = '
    'head.num_base_priors priors per location, K = cls_out_channels, 4 or '
    '1); flatten one image as mmdet does, x.permute(1, 2, 0).reshape(-1, '
    'K): rows in the order (y, x, a), the order of the priors that '
    'priors.generator.grid_priors gives for the level')
MMDEPLOY_NOTE = (
    "mmdeploy's mmdet codebase traces the same backbone, neck and head and "
    'rewrites the dense head\'s predict_by_feat so that the graph also '
    'holds the priors of the traced size, the per-level nms_pre top-k and '
    'the bbox_coder decode, then multiclass NMS: the standard ONNX '
    'NonMaxSuppression op for onnxruntime, the mmdeploy::TRTBatchedNMS '
    'plugin for TensorRT; its outputs are dets (N, keep_top_k, 5: x1, y1, '
    'x2, y2, score) and labels (N, keep_top_k), padded to keep_top_k '
    '(score_threshold, iou_threshold and keep_top_k from the deploy '
    'config\'s post_processing where the test config lacks them). For '
    'two-stage detectors it does the same for the RPN (proposals by '
    'in-graph NMS) and rewrites SingleRoIExtractor: RoIAlign on the FPN '
    'level of each proposal as the ONNX RoiAlign op (onnxruntime) or the '
    'mmcv::MMCVRoiAlign / mmdeploy::MMCVMultiLevelRoiAlign TensorRT '
    'plugins, then the RoI head\'s bbox head and a second NMS. Its graph '
    'takes the data preprocessor\'s output: resize, padding and mean/std '
    "run outside it (mmdeploy's SDK runs the pipeline), where this graph "
    'holds the mean/std. mmrskd does not depend on mmdeploy')


def int_stride(stride) -> int:
    """An mmdet stride ((w, h) or int) as one int (square strides only)."""
    if isinstance(stride, (tuple, list)):
        if len(set(stride)) != 1:
            raise ValueError(f'Non-square stride {stride} is not supported.')
        stride = stride[0]
    return int(stride)


def prior_settings(generator) -> dict:
    """The prior generator as the settings that rebuild it (mmdet's
    ``TASK_UTILS.build(settings['generator'])``), with the base anchors of
    each level for decoders without mmdet."""
    gen = {'type': type(generator).__name__,
           'strides': [int_stride(s) for s in generator.strides]}
    if not hasattr(generator, 'base_anchors'):  # points (FCOS)
        gen['offset'] = generator.offset
        return {'generator': gen, 'formula': (
            'point (x, y) of location (i, j) = ((j + offset) * stride, '
            '(i + offset) * stride)')}
    gen.update(ratios=generator.ratios.tolist(),
               scales=generator.scales.tolist(),
               base_sizes=list(generator.base_sizes),
               scale_major=generator.scale_major,
               centers=generator.centers,
               center_offset=generator.center_offset)
    return {'generator': gen,
            'base_anchors': [[rounded(a) for a in b]
                             for b in generator.base_anchors],
            'formula': 'anchor a of location (i, j) = base_anchors[level][a] '
                       '+ (j, i, j, i) * stride (x1, y1, x2, y2)'}


def coder_settings(coder) -> dict:
    """The box coder as the settings that rebuild it (``TASK_UTILS``)."""
    out = {'type': type(coder).__name__}
    if hasattr(coder, 'means'):  # DeltaXYWHBBoxCoder
        out.update(target_means=list(coder.means),
                   target_stds=list(coder.stds),
                   add_ctr_clamp=coder.add_ctr_clamp,
                   ctr_clamp=coder.ctr_clamp)
    out['clip_border'] = getattr(coder, 'clip_border', True)
    return out


def plain_cfg(cfg) -> dict:
    """A test config (ConfigDict or dict) as a plain, JSON-able dict."""
    return ConfigDict(copy.deepcopy(cfg)).to_dict()


def postprocess_steps(module: nn.Module) -> List[str]:
    """What is left after the graph, in the order of mmdet's
    ``predict_by_feat`` (one-stage heads and the RPN differ)."""
    head, cfg = module.head, plain_cfg(module.head.test_cfg)
    rpn = module.head_name == 'rpn_head'
    score = ('sigmoid(cls_score)' if head.use_sigmoid_cls else
             'softmax(cls_score) without its last (background) column')
    steps = [
        'per image and level: flatten the outputs (layout) and build the '
        'level\'s priors (priors)',
        f'scores = {score}' + ('; score_factor = sigmoid(centerness)'
                               if len(module.kinds) == 3 else ''),
        f'keep the nms_pre ({cfg.get("nms_pre", -1)}) highest-scoring priors'
        if rpn else
        f'keep the (prior, class) pairs with score > score_thr '
        f'({cfg.get("score_thr", 0)}), at most the nms_pre '
        f'({cfg.get("nms_pre", -1)}) highest',
        'decode the kept boxes with bbox_coder against their priors '
        '(clip_border: clipped to img_shape, the resized image before '
        'padding); then all levels of the image together:',
        'with rescale: divide the boxes by scale_factor']
    if len(module.kinds) == 3:
        steps.append('scores = scores * score_factor')
    if cfg.get('min_bbox_size', -1) >= 0:
        steps.append(f'keep the boxes wider and higher than min_bbox_size '
                     f'({cfg["min_bbox_size"]})')
    steps.append(f'NMS {cfg["nms"]} ' + (
        'per level, then keep the max_per_img '
        f'({cfg["max_per_img"]}) highest: the proposals of the RoI stage'
        if rpn else 'per class, then keep the max_per_img '
        f'({cfg["max_per_img"]}) highest: boxes, scores, labels'))
    return steps


def not_in_graph(model: nn.Module) -> dict:
    """The sidecar's account of a two-stage detector's missing RoI stage."""
    roi = model.roi_head
    extractor, bbox_head = roi.bbox_roi_extractor, roi.bbox_head
    layer = extractor.roi_layers[0]
    return {
        'stage': f'{type(roi).__name__} (RoI stage)',
        'why': 'it takes the proposals, which the RPN postprocess makes '
               '(decode + NMS, a data-dependent number of boxes), and '
               'RoIAligns them on the FPN features; neither the proposals '
               'nor the features are outputs of this graph',
        'steps': [
            'per proposal: RoIAlign (roi_align) on FPN level floor(log2('
            'sqrt(w * h) / finest_scale + 1e-6)), clamped to the levels of '
            'featmap_strides',
            'the bbox head: shared FCs, class softmax, per-class box deltas '
            'decoded by its bbox_coder against the proposal',
            'score_thr, NMS per class and max_per_img of test_cfg'],
        'roi_align': {'output_size': list(layer.output_size),
                      'sampling_ratio': layer.sampling_ratio,
                      'aligned': layer.aligned,
                      'featmap_strides': list(extractor.featmap_strides),
                      'finest_scale': extractor.finest_scale},
        'bbox_head': {'type': type(bbox_head).__name__,
                      'num_classes': bbox_head.num_classes,
                      'bbox_coder': coder_settings(bbox_head.bbox_coder),
                      'reg_class_agnostic': bbox_head.reg_class_agnostic},
        'test_cfg': plain_cfg(roi.test_cfg),
    }


def describe_outputs(module: nn.Module, shape: Tuple[int, int],
                     dynamic_batch: bool) -> List[dict]:
    """Name, kind, level, stride and shape of every output (from a forward
    pass at ``shape``)."""
    with torch.no_grad():
        outs = module(torch.zeros(1, 3, *shape))
    strides = module.strides * len(module.kinds)
    kinds = [k for k in module.kinds for _ in module.strides]
    return [{'name': name, 'kind': kind, 'level': module.level(stride),
             'stride': stride,
             'shape': ['batch' if dynamic_batch else 1, *out.shape[1:]]}
            for name, kind, stride, out in zip(module.output_names, kinds,
                                               strides, outs)]


def describe_detector(module: nn.Module, shape: Tuple[int, int],
                      dynamic_batch: bool, opset: int,
                      classes: Optional[List[str]]) -> dict:
    """The sidecar's content: input, outputs and what decodes them."""
    head = module.head
    info = describe_input(module, shape, dynamic_batch, INPUT_NOTE)
    info.update(
        task='detection',
        outputs=describe_outputs(module, shape, dynamic_batch),
        layout=LAYOUT_NOTE,
        kinds={k: KIND_NOTES[k] for k in module.kinds},
        head={'module': module.head_name, 'type': type(head).__name__,
              'num_classes': head.num_classes,
              'cls_out_channels': head.cls_out_channels,
              'use_sigmoid_cls': head.use_sigmoid_cls,
              'num_base_priors': head.num_base_priors},
        priors=prior_settings(head.prior_generator),
        bbox_coder=coder_settings(head.bbox_coder),
        test_cfg=plain_cfg(head.test_cfg),
        postprocess={
            'in_graph': False, 'steps': postprocess_steps(module),
            'reference': f'mmdet {type(head).__name__}.predict_by_feat('
                         f'{", ".join(PREDICT_ARGS[:len(module.kinds)])}, '
                         'batch_img_metas, cfg=test_cfg, rescale='
                         f'{module.head_name != "rpn_head"})'},
        mmdeploy=MMDEPLOY_NOTE,
        num_classes=count_classes(module.model), classes=classes,
        **exporter_info(opset))
    if module.head_name == 'rpn_head':
        info['not_in_graph'] = not_in_graph(module.model)
    return info
