"""The student a config deploys: its model config (a distiller's student
or the config's model, with the data preprocessor mmengine's Runner hands
it), the model built with random weights, its weights from any checkpoint
layout, the input size of the test pipeline and the class names. Shared by
the ONNX exports (:mod:`.export_onnx`, :mod:`.export_onnx_det`) and
``tools/analysis/latency.py``."""
from typing import List, Optional, Sequence, Tuple

import torch.nn as nn
from mmengine.config import Config, ConfigDict
from mmengine.registry import init_default_scope

from ..datasets.wrappers import innermost_dataset
from ..utils.model_config import (config_model, is_distiller,
                                  models_registry, with_data_preprocessor)
from ..utils.state_dict import (CheckpointReadError, check_state_fits,
                                checkpoint_state, model_weights,
                                read_checkpoint)


def student_model_cfg(cfg: Config) -> ConfigDict:
    """The model config to deploy: a distiller's student, or the config's
    plain model, carrying the data preprocessor mmengine's Runner would hand
    it (the student's own, else the distiller's/config's)."""
    model = config_model(cfg)
    if not is_distiller(model):
        return model
    return with_data_preprocessor(model.student,
                                  model.get('data_preprocessor'))


def build_model(cfg: Config) -> nn.Module:
    """Build the model :func:`student_model_cfg` describes (random
    weights) in the config's registry scope, in eval mode."""
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    return models_registry(cfg).build(student_model_cfg(cfg)).eval()


def load_student_checkpoint(model: nn.Module, path: str) -> dict:
    """Load ``path`` (a distiller checkpoint's ``student.*``, a plain
    mmpretrain/mmdet checkpoint, an exported student or a bare state dict)
    into ``model`` strictly. Returns the checkpoint's ``meta`` (may be
    empty).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        CheckpointReadError: it is not a checkpoint, or its weights do not
            fit the config's model (the message names the file).
    """
    ckpt = read_checkpoint(path, 'Checkpoint')
    state = model_weights(checkpoint_state(ckpt), path)
    check_state_fits(
        model, state,
        f'Checkpoint "{path}" does not fit the model of the config',
        'Is it a checkpoint of this config (or of its student)?',
        CheckpointReadError, n=3)
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


def pipeline_input_size(cfg: Config, keep_ratio: bool = False
                        ) -> Optional[Tuple[int, int]]:
    """(H, W) the test pipeline gives the model: its last fixed-size
    ``Resize`` (without ``keep_ratio``) or ``CenterCrop``; None when the
    size depends on the image (no resize, ``ResizeEdge``, kept ratio).

    With ``keep_ratio`` a ``Resize(scale, keep_ratio=True)`` gives its
    ``scale``: the box the images are fitted into (a detector's input,
    padded up to it)."""
    loader = cfg.get('test_dataloader') or {}
    dataset = innermost_dataset(loader.get('dataset') or {})
    size = None
    for step in dataset.get('pipeline') or cfg.get('test_pipeline') or []:
        kind = str(step.get('type', '')).split('.')[-1]
        if kind == 'CenterCrop':
            size = _size(step.get('crop_size'))
        elif kind == 'Resize':
            size = None if step.get('keep_ratio') and not keep_ratio \
                else _size(step.get('scale'))
        elif kind in ('ResizeEdge', 'RandomResize', 'RandomResizedCrop'):
            size = None
    return size


def input_size(cfg: Config, config: str,
               shape: Optional[Sequence[int]] = None,
               keep_ratio: bool = False) -> Tuple[int, int]:
    """``shape`` if given, else the test pipeline's size
    (:func:`pipeline_input_size`), else a ValueError naming the config."""
    size = tuple(shape) if shape else pipeline_input_size(cfg, keep_ratio)
    if size is None:
        raise ValueError(
            f'The test pipeline of "{config}" has no fixed-size Resize or '
            'CenterCrop (the model sees images at their file size), so the '
            'input size is unknown: pass --shape H W (e.g. --shape 64 64 '
            'for the 64 px demo scenes).')
    if len(size) != 2 or min(size) < 1:
        raise ValueError(f'--shape takes H W > 0, got {list(size)}.')
    return int(size[0]), int(size[1])


def class_names(meta: dict, cfg: Config, num_classes: Optional[int],
                datasets=None) -> Optional[List[str]]:
    """Class names from the checkpoint's ``dataset_meta`` (mmengine's Runner
    stores it), else from the test dataset's config, else (given the
    ``datasets`` registry) its class's ``METAINFO``; None if unknown or of
    another length than the head's output."""
    classes = (meta.get('dataset_meta') or {}).get('classes')
    loader = cfg.get('test_dataloader') or {}
    ds = innermost_dataset(loader.get('dataset') or {})
    if not classes:
        classes = ds.get('classes') or (ds.get('metainfo') or {}).get(
            'classes')
    if not classes and datasets is not None and isinstance(
            ds.get('type'), str):
        dataset_class = datasets.get(ds['type'])
        classes = (getattr(dataset_class, 'METAINFO', None) or {}).get(
            'classes')
    if not classes or isinstance(classes, str) or (
            num_classes is not None and len(classes) != num_classes):
        return None
    return [str(c) for c in classes]
