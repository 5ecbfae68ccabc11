"""Export a (distilled) classification student to ONNX
(``tools/deploy/export_onnx.py``).

The exported graph takes raw images as float32 ``(N, 3, H, W)`` (pixel
values 0..255, in the channel order the caller names) and holds the whole
test-time computation of mmpretrain's ``model.predict`` without the data
pipeline: the data preprocessor's channel swap and mean/std normalisation,
then backbone, neck and head. Its output is the head's logits ``(N, C)``, or
their softmax (``pred_score``) with ``softmax=True``.

Shared with the detection export (:mod:`.export_onnx_det`): the student,
its weights and input size (:mod:`.deploy_model`), the raw-image input
module, exporter call, onnxruntime check and sidecar (:mod:`.onnx_graph`).
"""
import os.path as osp
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmengine.config import Config

from ..models.distillers.teacher import count_classes
from ..utils.model_config import is_detection, load_config
from .deploy_model import (build_model, class_names, input_size,
                           load_student_checkpoint, pipeline_input_size,
                           student_model_cfg)
from .onnx_graph import (DEFAULT_OPSET, INPUT_ORDERS, RawImageInput,
                         describe_input, export_graph, exporter_info,
                         ort_session, sidecar_path, write_export)

__all__ = [
    'DEFAULT_OPSET', 'INPUT_ORDERS', 'DeployClassifier', 'build_student',
    'describe', 'export_graph', 'export_onnx', 'load_student_checkpoint',
    'ort_session', 'pipeline_input_size', 'sidecar_path', 'student_model_cfg'
]


def build_student(cfg: Config) -> nn.Module:
    """Build the model :func:`student_model_cfg` describes (random weights),
    in eval mode. Detection configs are refused (they have their own
    export, :mod:`.export_onnx_det`)."""
    if is_detection(cfg):
        raise ValueError(
            'This exports classification students; this is a detection '
            'config (default_scope="mmdet"): use mmrskd.apis.export_onnx_det'
            '.export_detector_onnx (tools/deploy/export_onnx.py picks it by '
            'itself).')
    return build_model(cfg)


class DeployClassifier(RawImageInput):
    """Raw images -> logits: the data preprocessor's test-time work (channel
    swap, mean/std) in front of ``model(x, mode='tensor')``.

    Args:
        model: an mmpretrain classifier (with its ``data_preprocessor``).
        input_order: channel order of the images the caller feeds
            (:class:`~.onnx_graph.RawImageInput`).
        softmax: return class probabilities (``pred_score`` of
            ``model.predict``) instead of logits.
    """

    def __init__(self, model: nn.Module, input_order: str = 'bgr',
                 softmax: bool = False):
        super().__init__(model.data_preprocessor, input_order)
        self.model, self.softmax = model, softmax
        self.output_names = ['scores' if softmax else 'logits']

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        out = self.model(self.preprocess(images), mode='tensor')
        return out.softmax(dim=1) if self.softmax else out


def describe(module: DeployClassifier, shape: Tuple[int, int],
             dynamic_batch: bool, opset: int,
             classes: Optional[List[str]], num_classes: Optional[int]
             ) -> dict:
    """The sidecar's content: what to feed the graph and what it returns."""
    info = describe_input(
        module, shape, dynamic_batch,
        'raw 8-bit pixel values as float32, not normalised; resize/crop to '
        'H x W as the test pipeline does')
    info['output'] = {
        'name': module.output_names[0],
        'shape': ['batch' if dynamic_batch else 1, num_classes],
        'softmax': module.softmax}
    info.update(num_classes=num_classes, classes=classes,
                **exporter_info(opset))
    return info


def export_onnx(config: str, checkpoint: str, out: str,
                shape: Optional[Sequence[int]] = None,
                dynamic_batch: bool = False, opset: int = DEFAULT_OPSET,
                softmax: bool = False, input_order: str = 'bgr',
                cfg_options: Optional[dict] = None,
                check: bool = True) -> dict:
    """Export the student of ``config`` with the weights of ``checkpoint``
    to ``out`` and write ``<out without .onnx>.json`` next to it.

    With ``check`` (and onnxruntime installed) the graph is run on random
    images and the largest difference to torch is recorded under
    ``check``. Returns the sidecar's content.
    """
    cfg = load_config(config, cfg_options)
    model = build_student(cfg)
    meta = load_student_checkpoint(model, checkpoint)
    size = input_size(cfg, config, shape)
    module = DeployClassifier(model, input_order, softmax).eval()
    n = count_classes(model)
    info = describe(module, size, dynamic_batch, opset,
                    class_names(meta, cfg, n), n)
    info.update(config=config, checkpoint=checkpoint,
                onnx=osp.basename(out))
    return write_export(module, size, out, info, dynamic_batch, opset,
                        check)
