"""Export a (distilled) detection student to ONNX: raw outputs of the dense
head (``tools/deploy/export_onnx.py`` with a detection config).

The graph takes raw images as float32 ``(N, 3, H, W)`` (pixel values
0..255) and holds the data preprocessor's channel swap and mean/std
(:class:`~.onnx_graph.RawImageInput`), backbone, neck and the dense head:

* one-stage detectors (RetinaNet, FCOS, ...): the ``bbox_head``'s raw
  per-level outputs, ``cls_score_p3 ... cls_score_p7``, ``bbox_pred_p3
  ...`` (and ``centerness_p3 ...`` for FCOS), one output per FPN level and
  kind, named after the level (``p<l>``: stride ``2**l``);
* two-stage detectors (Faster R-CNN): the RPN's raw outputs only,
  ``rpn_cls_score_p2 ...``, ``rpn_bbox_pred_p2 ...``. The RoI stage is not
  in the graph: it takes the proposals, which the RPN's decode and NMS make
  (a data-dependent number of boxes), and RoIAligns them on the FPN
  features; neither the proposals nor the features are outputs.

No prior generation, box decoding or NMS is in the graph. The JSON sidecar
lists what they need (strides, the prior generator's and the box coder's
settings, the test config) and, under ``postprocess``, the steps left, as
mmdet's ``predict_by_feat`` runs them; ``mmdeploy`` says what mmdeploy
would add. ``tests/test_export_onnx_det.py`` decodes the graph's outputs
with mmdet's ``predict_by_feat`` from the sidecar's settings and gets the
boxes of ``model.predict``.
"""
import math
import os.path as osp
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn as nn

from ..models.distillers.teacher import count_classes
from ..utils.model_config import is_detection, load_config
from .deploy_model import (build_model, class_names, input_size,
                           load_student_checkpoint)
from .onnx_det_sidecar import describe_detector, int_stride
from .onnx_graph import DEFAULT_OPSET, RawImageInput, write_export

#: the dense head's forward outputs in order (the arguments of mmdet's
#: ``predict_by_feat``: cls_scores, bbox_preds, score_factors)
OUTPUT_KINDS = ('cls_score', 'bbox_pred', 'centerness')


def dense_head_name(model: nn.Module) -> str:
    """``'rpn_head'`` of a two-stage detector, ``'bbox_head'`` of a
    one-stage one; a ValueError for detectors without a dense head."""
    if getattr(model, 'with_rpn', False):
        return 'rpn_head'
    head = getattr(model, 'bbox_head', None)
    if head is not None and hasattr(head, 'prior_generator'):
        return 'bbox_head'
    raise ValueError(
        f'{type(model).__name__} has no dense head with a prior generator '
        '(the bbox_head of RetinaNet/FCOS-like detectors, the rpn_head of '
        'two-stage ones): its raw-output ONNX export is not supported.')


class DeployDetector(RawImageInput):
    """Raw images -> the dense head's raw outputs as one flat tuple, kind by
    kind and level by level (``output_names``).

    Args:
        model: an mmdet detector (with its ``data_preprocessor``); it is
            put in eval mode.
        input_order: channel order of the images the caller feeds
            (:class:`~.onnx_graph.RawImageInput`).
    """

    def __init__(self, model: nn.Module, input_order: str = 'bgr'):
        super().__init__(model.data_preprocessor, input_order)
        self.model = model.eval()  # FCOS scales its boxes in eval mode only
        self.head_name = dense_head_name(model)
        self.strides = [int_stride(s)
                        for s in self.head.prior_generator.strides]
        prefix = 'rpn_' if self.head_name == 'rpn_head' else ''
        self.kinds = OUTPUT_KINDS[:self._count_kinds()]
        self.output_names = [f'{prefix}{kind}_p{self.level(stride)}'
                             for kind in self.kinds for stride in self.strides]

    @property
    def head(self) -> nn.Module:
        return getattr(self.model, self.head_name)

    @staticmethod
    def level(stride: int) -> int:
        """FPN level ``l`` of a stride ``2**l``."""
        return int(round(math.log2(stride)))

    @torch.no_grad()
    def _count_kinds(self) -> int:
        """How many per-level lists the head returns (2, or 3 with score
        factors), from a forward pass on a small blank image."""
        size = 2 * max(self.pad_size_divisor, 32)
        outs = self.head(self.model.extract_feat(torch.zeros(1, 3, size,
                                                             size)))
        if not 2 <= len(outs) <= 3 or any(
                len(group) != len(self.strides) for group in outs):
            raise ValueError(
                f'{type(self.head).__name__} returns {len(outs)} outputs, '
                'not per-level lists of cls_scores, bbox_preds[, '
                'score_factors]: its raw-output export is not supported.')
        return len(outs)

    def forward(self, images: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        feats = self.model.extract_feat(self.preprocess(images))
        return tuple(t for group in self.head(feats) for t in group)


def split_outputs(outputs: Sequence, num_kinds: int) -> List[list]:
    """The graph's flat outputs back as mmdet's per-kind lists of levels
    (``cls_scores, bbox_preds[, score_factors]`` for ``predict_by_feat``)."""
    levels = len(outputs) // num_kinds
    return [list(outputs[i * levels:(i + 1) * levels])
            for i in range(num_kinds)]


def export_detector_onnx(config: str, checkpoint: str, out: str,
                         shape: Optional[Sequence[int]] = None,
                         dynamic_batch: bool = False,
                         opset: int = DEFAULT_OPSET,
                         input_order: str = 'bgr',
                         cfg_options: Optional[dict] = None,
                         check: bool = True) -> dict:
    """Export the detection student of ``config`` (a distiller's or a plain
    detector config) with the weights of ``checkpoint`` to ``out`` and
    write ``<out without .onnx>.json`` next to it. Without ``shape`` the
    input is the test pipeline's ``Resize`` scale. Returns the sidecar's
    content (with ``check``: the largest onnxruntime-vs-torch difference).
    """
    cfg = load_config(config, cfg_options)
    if not is_detection(cfg):
        raise ValueError(f'"{config}" is not a detection config '
                         '(default_scope="mmdet").')
    if cfg.default_scope != 'mmdet':
        raise ValueError(f'"{config}" detects oriented boxes (mmrotate): '
                         'their ONNX export is not supported yet.')
    model = build_model(cfg)
    meta = load_student_checkpoint(model, checkpoint)
    size = input_size(cfg, config, shape, keep_ratio=True)
    module = DeployDetector(model, input_order).eval()
    from mmdet.registry import DATASETS
    classes = class_names(meta, cfg, count_classes(model), DATASETS)
    info = describe_detector(module, size, dynamic_batch, opset, classes)
    info.update(config=config, checkpoint=checkpoint,
                onnx=osp.basename(out))
    return write_export(module, size, out, info, dynamic_batch, opset,
                        check)
