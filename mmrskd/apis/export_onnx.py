"""Export a (distilled) classification student to ONNX
(``tools/deploy/export_onnx.py``).

The exported graph takes raw images as float32 ``(N, 3, H, W)`` (pixel
values 0..255, in the channel order the caller names) and holds the whole
test-time computation of mmpretrain's ``model.predict`` without the data
pipeline: the data preprocessor's channel swap and mean/std normalisation,
then backbone, neck and head. Its output is the head's logits ``(N, C)``, or
their softmax (``pred_score``) with ``softmax=True``.

Exporter: torch's TorchScript-based exporter (``dynamo=False``). In torch
2.14 the default ``dynamo=True`` path needs the ``onnxscript`` package; the
TorchScript path needs nothing beyond torch and gives plain opset-17 graphs
for these CNNs (torch warns that it is deprecated; only torch.onnx's
deprecation warnings are silenced).
"""
import json
import os
import os.path as osp
import warnings
from typing import List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn as nn
from mmengine.config import Config, ConfigDict
from mmengine.registry import init_default_scope

from ..models.distillers.teacher import config_model, count_classes
from ..utils.state_dict import (CheckpointReadError, checkpoint_state,
                                model_weights, read_checkpoint,
                                state_differences)
from . import cli

#: opset of the exported graphs (onnxruntime >= 1.12 runs it).
DEFAULT_OPSET = 17
INPUT_ORDERS = ('bgr', 'rgb')


def student_model_cfg(cfg: Config) -> ConfigDict:
    """The model config to deploy: a distiller's student, or the config's
    plain model, carrying the data preprocessor mmengine's Runner would hand
    it (the student's own, else the distiller's/config's)."""
    model = config_model(cfg)
    if not cli.is_distiller(model):
        return model
    student = ConfigDict(model.student.copy())
    if model.get('data_preprocessor') is not None:
        student.setdefault('data_preprocessor', model.data_preprocessor)
    return student


def build_student(cfg: Config) -> nn.Module:
    """Build the model :func:`student_model_cfg` describes (random weights),
    in eval mode. Detection configs are refused."""
    if cli.is_detection(cfg):
        raise ValueError(
            'ONNX export covers classification students; this is a '
            'detection config (default_scope="mmdet").')
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    return cli.models_registry(cfg).build(student_model_cfg(cfg)).eval()


def load_student_checkpoint(model: nn.Module, path: str) -> dict:
    """Load ``path`` (a distiller checkpoint's ``student.*``, a plain
    mmpretrain checkpoint, an exported student or a bare state dict) into
    ``model`` strictly. Returns the checkpoint's ``meta`` (may be empty).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        CheckpointReadError: it is not a checkpoint, or its weights do not
            fit the config's model (the message names the file).
    """
    ckpt = read_checkpoint(path, 'Checkpoint')
    state = model_weights(checkpoint_state(ckpt), path)
    diff = state_differences(model.state_dict(), state)
    if diff:
        raise CheckpointReadError(
            f'Checkpoint "{path}" does not fit the model of the config '
            f'({type(model).__name__}): {diff.describe(3)}. Is it a '
            'checkpoint of this config (or of its student)?')
    model.load_state_dict(state, strict=True)
    meta = ckpt.get('meta')
    return meta if isinstance(meta, dict) else {}


def _size(value) -> Optional[Tuple[int, int]]:
    """(H, W) of an mmcv ``scale``/``crop_size`` (an int or (w, h))."""
    if isinstance(value, int):
        return value, value
    if isinstance(value, (tuple, list)) and len(value) == 2 and all(
            isinstance(v, int) and v > 0 for v in value):
        return value[1], value[0]
    return None


def pipeline_input_size(cfg: Config) -> Optional[Tuple[int, int]]:
    """(H, W) the test pipeline gives the model: its last fixed-size
    ``Resize`` (without ``keep_ratio``) or ``CenterCrop``; None when the
    size depends on the image (no resize, ``ResizeEdge``, kept ratio)."""
    loader = cfg.get('test_dataloader') or {}
    dataset = cli.innermost_dataset(loader.get('dataset') or {})
    size = None
    for step in dataset.get('pipeline') or cfg.get('test_pipeline') or []:
        kind = str(step.get('type', '')).split('.')[-1]
        if kind == 'CenterCrop':
            size = _size(step.get('crop_size'))
        elif kind == 'Resize':
            size = None if step.get('keep_ratio') else _size(
                step.get('scale'))
        elif kind in ('ResizeEdge', 'RandomResize', 'RandomResizedCrop'):
            size = None
    return size


def input_size(cfg: Config, config: str,
               shape: Optional[Sequence[int]] = None) -> Tuple[int, int]:
    """``shape`` if given, else the test pipeline's size
    (:func:`pipeline_input_size`), else a ValueError naming the config."""
    size = tuple(shape) if shape else pipeline_input_size(cfg)
    if size is None:
        raise ValueError(
            f'The test pipeline of "{config}" has no fixed-size Resize or '
            'CenterCrop (the model sees images at their file size), so the '
            'input size is unknown: pass --shape H W (e.g. --shape 64 64 '
            'for the 64 px demo scenes).')
    if len(size) != 2 or min(size) < 1:
        raise ValueError(f'--shape takes H W > 0, got {list(size)}.')
    return int(size[0]), int(size[1])


class DeployClassifier(nn.Module):
    """Raw images -> logits: the data preprocessor's test-time work (channel
    swap, mean/std) in front of ``model(x, mode='tensor')``.

    Args:
        model: an mmpretrain classifier (with its ``data_preprocessor``).
        input_order: channel order of the images the caller feeds:
            ``'bgr'`` (what ``LoadImageFromFile``/OpenCV read, the order the
            config's ``to_rgb`` refers to) or ``'rgb'`` (PIL and most image
            libraries). The swap is added only when the two differ.
        softmax: return class probabilities (``pred_score`` of
            ``model.predict``) instead of logits.
    """

    def __init__(self, model: nn.Module, input_order: str = 'bgr',
                 softmax: bool = False):
        super().__init__()
        if input_order not in INPUT_ORDERS:
            raise ValueError(f'input_order must be one of {INPUT_ORDERS}, '
                             f'got {input_order!r}.')
        pre = model.data_preprocessor
        to_rgb = bool(getattr(pre, 'to_rgb',
                              getattr(pre, '_channel_conversion', False)))
        self.model, self.softmax, self.input_order = model, softmax, \
            input_order
        #: the order the network itself was trained on
        self.network_order = 'rgb' if to_rgb else 'bgr'
        self.swap = self.network_order != input_order
        self.normalize = bool(getattr(pre, '_enable_normalize', False))
        if self.normalize:
            self.register_buffer('mean', pre.mean.detach().float().reshape(
                1, -1, 1, 1).clone())
            self.register_buffer('std', pre.std.detach().float().reshape(
                1, -1, 1, 1).clone())
        self.pad_size_divisor = int(getattr(pre, 'pad_size_divisor', 1))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = images.float()
        if self.swap:
            x = x.flip(1)
        if self.normalize:
            x = (x - self.mean) / self.std
        out = self.model(x, mode='tensor')
        return out.softmax(dim=1) if self.softmax else out


def export_graph(module: DeployClassifier, shape: Tuple[int, int], out: str,
                 dynamic_batch: bool = False, opset: int = DEFAULT_OPSET
                 ) -> None:
    """Trace ``module`` on a ``(B, 3, H, W)`` input and write ``out`` with
    torch's TorchScript exporter (``dynamo=False``); input ``input``,
    output ``logits`` (``scores`` with softmax), batch axis dynamic on
    request (else the graph takes one image)."""
    div = module.pad_size_divisor
    if div > 1 and (shape[0] % div or shape[1] % div):
        raise ValueError(
            f'The data preprocessor pads to multiples of {div}; export at a '
            f'multiple of it (got {shape[0]} x {shape[1]}).')
    output = 'scores' if module.softmax else 'logits'
    x = torch.randint(0, 256, (2 if dynamic_batch else 1, 3, *shape),
                      generator=torch.Generator().manual_seed(0)).float()
    axes = {'input': {0: 'batch'}, output: {0: 'batch'}} \
        if dynamic_batch else None
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.filterwarnings(
            'ignore', message='.*legacy TorchScript-based ONNX export',
            category=DeprecationWarning)
        warnings.filterwarnings('ignore', category=DeprecationWarning,
                                module=r'torch\.onnx')
        torch.onnx.export(module.eval(), (x, ), out, dynamo=False,
                          opset_version=opset, input_names=['input'],
                          output_names=[output], dynamic_axes=axes,
                          do_constant_folding=True)


def ort_session(path: str, threads: Optional[int] = None):
    """An onnxruntime CPU session for ``path`` with ``threads`` intra-op
    threads (default: torch's thread count, for like-for-like timings)."""
    import onnxruntime as ort
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads or torch.get_num_threads()
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(path, opts,
                                providers=['CPUExecutionProvider'])


def onnxruntime_max_diff(module: DeployClassifier, path: str,
                         shape: Tuple[int, int], batch: int = 1
                         ) -> Optional[float]:
    """Max |onnxruntime - torch| on a batch of random uint8-valued images;
    None when onnxruntime is not installed."""
    try:
        sess = ort_session(path)
    except ImportError:
        return None
    x = torch.randint(0, 256, (batch, 3, *shape),
                      generator=torch.Generator().manual_seed(1)).float()
    got = sess.run(None, {'input': x.numpy()})[0]
    with torch.no_grad():
        ref = module.eval()(x).numpy()
    return float(np.abs(got - ref).max())


def class_names(meta: dict, cfg: Config,
                num_classes: Optional[int]) -> Optional[List[str]]:
    """Class names from the checkpoint's ``dataset_meta`` (mmengine's Runner
    stores it), else from the test dataset's config; None if unknown or of
    another length than the head's output."""
    classes = (meta.get('dataset_meta') or {}).get('classes')
    if not classes:
        loader = cfg.get('test_dataloader') or {}
        ds = cli.innermost_dataset(loader.get('dataset') or {})
        classes = ds.get('classes') or (ds.get('metainfo') or {}).get(
            'classes')
    if not classes or isinstance(classes, str) or (
            num_classes is not None and len(classes) != num_classes):
        return None
    return [str(c) for c in classes]


def _rounded(values: torch.Tensor) -> List[float]:
    return [round(v, 4) for v in values.flatten().tolist()]


def describe(module: DeployClassifier, shape: Tuple[int, int],
             dynamic_batch: bool, opset: int,
             classes: Optional[List[str]], num_classes: Optional[int]
             ) -> dict:
    """The sidecar's content: what to feed the graph and what it returns."""
    batch = 'batch' if dynamic_batch else 1
    pre = {'channel_swap': module.swap,
           'network_channel_order': module.network_order.upper()}
    if module.normalize:
        pre.update(mean=_rounded(module.mean), std=_rounded(module.std),
                   formula='(x - mean) / std, per channel in the network '
                   'order, after the swap')
    return {
        'input': {
            'name': 'input', 'shape': [batch, 3, *shape], 'dtype': 'float32',
            'layout': 'NCHW', 'channel_order': module.input_order.upper(),
            'value_range': [0, 255],
            'note': 'raw 8-bit pixel values as float32, not normalised; '
                    'resize/crop to H x W as the test pipeline does'},
        'preprocessing_in_graph': pre,
        'output': {
            'name': 'scores' if module.softmax else 'logits',
            'shape': [batch, num_classes], 'softmax': module.softmax},
        'num_classes': num_classes, 'classes': classes,
        'opset': opset,
        'exporter': f'torch {torch.__version__} torch.onnx.export '
                    '(TorchScript, dynamo=False)',
    }


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
    cfg = cli.load_config(config, cfg_options)
    model = build_student(cfg)
    meta = load_student_checkpoint(model, checkpoint)
    size = input_size(cfg, config, shape)
    module = DeployClassifier(model, input_order, softmax).eval()
    export_graph(module, size, out, dynamic_batch, opset)
    n = count_classes(model)
    info = describe(module, size, dynamic_batch, opset,
                    class_names(meta, cfg, n), n)
    info.update(config=config, checkpoint=checkpoint,
                onnx=osp.basename(out))
    if check:
        batch = 2 if dynamic_batch else 1
        diff = onnxruntime_max_diff(module, out, size, batch)
        info['check'] = {'onnxruntime_max_abs_diff': diff, 'batch': batch}
    with open(sidecar_path(out), 'w') as f:
        json.dump(info, f, indent=2)
    return info


def sidecar_path(out: str) -> str:
    """``model.onnx`` -> ``model.json``."""
    root, ext = osp.splitext(out)
    return (root if ext.lower() == '.onnx' else out) + '.json'
