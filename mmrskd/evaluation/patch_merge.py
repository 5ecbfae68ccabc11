"""Patch detections back on the full images they were cut from.

Patch files are named ``<image>__<rate>__<x0>___<y0>.png`` (the DOTA
devkit's scheme, written by ``tools/dataset_converters/dota_split.py``), so
a detection in a patch goes back to ``(box + [x0, y0, x0, y0]) / rate`` in
its source image (an oriented box ``(cx, cy, w, h, angle)`` to
``((cx + x0) / rate, (cy + y0) / rate, w / rate, h / rate, angle)``); the
duplicates of overlapping patches are then removed with a class-wise NMS
(rotated for oriented boxes). Used by :class:`DOTATask2Metric`,
:class:`DOTATask1Metric` and by ``tools/dataset_converters/dota_merge.py``.
"""
import os.path as osp
import re
from collections import defaultdict
from typing import Dict, Sequence, Tuple

import numpy as np
import torch

from ..datasets.image_files import IMG_EXTENSIONS

PATCH_NAME = re.compile(r'^(?P<stem>.+)__(?P<rate>[\d.]+)__(?P<x>-?\d+)___'
                        r'(?P<y>-?\d+)$')

#: image stem -> (boxes (n, 4), scores (n,), labels (n,)) on the full image
#: (oriented boxes (n, 5) or polygons (n, 8) for Task1)
ImageDetections = Dict[str, Tuple[np.ndarray, np.ndarray, np.ndarray]]


def _strip_image_extension(name: str) -> str:
    """Base name without a known image extension ('0.5__0___0' keeps its
    '.5')."""
    base = osp.basename(name)
    stem, ext = osp.splitext(base)
    return stem if ext.lower() in IMG_EXTENSIONS else base


def parse_patch_name(name: str) -> Tuple[str, float, int, int]:
    """``'P0001__1__824___0'`` -> ``('P0001', 1.0, 824, 0)``."""
    m = PATCH_NAME.match(_strip_image_extension(name))
    if m is None:
        raise ValueError(f'"{name}" is not a patch name '
                         '(<image>__<rate>__<x0>___<y0>).')
    return m['stem'], float(m['rate']), int(m['x']), int(m['y'])


def _placement(name: str,
               allow_full_images: bool) -> Tuple[str, float, int, int]:
    """Source image, rate and offset of a patch; a name that is not a patch
    name is a full image (rate 1, offset 0) when ``allow_full_images``."""
    if allow_full_images and PATCH_NAME.match(
            _strip_image_extension(name)) is None:
        return _strip_image_extension(name), 1.0, 0, 0
    return parse_patch_name(name)


def _to_full_image(boxes: np.ndarray, rate: float, x0: int, y0: int,
                   rotated: bool) -> np.ndarray:
    """Patch-pixel boxes ``(n, 4)`` (or oriented ``(n, 5)``) in the pixels
    of the full image, float32."""
    if not rotated:
        return (np.asarray(boxes, np.float32).reshape(-1, 4) +
                np.array([x0, y0, x0, y0], np.float32)) / rate
    boxes = np.asarray(boxes, np.float32).reshape(-1, 5)
    offset = np.array([x0, y0, 0, 0, 0], np.float32)
    scale = np.array([rate, rate, rate, rate, 1], np.float32)
    return (boxes + offset) / scale


def _merge(patches: Sequence[Tuple[str, np.ndarray, np.ndarray, np.ndarray]],
           iou_thr: float, allow_full_images: bool,
           rotated: bool) -> ImageDetections:
    """Group the patches by image, map them back, class-wise (rotated)
    NMS."""
    from mmcv.ops import batched_nms
    grouped = defaultdict(list)
    for name, boxes, scores, labels in patches:
        stem, rate, x0, y0 = _placement(name, allow_full_images)
        grouped[stem].append((_to_full_image(boxes, rate, x0, y0, rotated),
                              np.asarray(scores, np.float32),
                              np.asarray(labels, np.int64)))
    nms_cfg = dict(type='nms_rotated' if rotated else 'nms',
                   iou_threshold=iou_thr)
    merged = {}
    for stem, parts in grouped.items():
        boxes = np.concatenate([p[0] for p in parts])
        scores = np.concatenate([p[1] for p in parts])
        labels = np.concatenate([p[2] for p in parts])
        if len(boxes):
            dets, keep = batched_nms(
                torch.from_numpy(boxes), torch.from_numpy(scores),
                torch.from_numpy(labels), nms_cfg)
            keep = keep.numpy()
            boxes, scores, labels = boxes[keep], scores[keep], labels[keep]
        merged[stem] = (boxes, scores, labels)
    return merged


def merge_patch_detections(
        patches: Sequence[Tuple[str, np.ndarray, np.ndarray, np.ndarray]],
        iou_thr: float = 0.5,
        allow_full_images: bool = False) -> ImageDetections:
    """Map ``(patch name, boxes (n, 4), scores (n,), labels (n,))`` back to
    full images and remove the duplicates of overlapping patches with a
    class-wise NMS. Returns ``image stem -> (boxes, scores, labels)``, with
    an entry (maybe empty) for every image that has a patch.

    Args:
        patches: the patch predictions, boxes in patch pixels.
        iou_thr: IoU threshold of the NMS.
        allow_full_images: take a name that is not a patch name as a full
            image (rate 1, offset 0) instead of raising ``ValueError``.
    """
    return _merge(patches, iou_thr, allow_full_images, rotated=False)


def merge_rotated_patch_detections(
        patches: Sequence[Tuple[str, np.ndarray, np.ndarray, np.ndarray]],
        iou_thr: float = 0.1,
        allow_full_images: bool = False) -> ImageDetections:
    """:func:`merge_patch_detections` for oriented boxes ``(n, 5)``
    ``(cx, cy, w, h, angle in radians)`` (mmrotate's ``RotatedBoxes``, any
    angle version: the angle is kept): centre and size mapped back, the
    duplicates removed with a class-wise rotated NMS (mmcv's
    ``nms_rotated``, which has a CPU kernel). ``iou_thr`` 0.1 is the DOTA
    devkit's (``ResultMerge``) and mmrotate's ``DOTAMetric``'s merging
    threshold."""
    return _merge(patches, iou_thr, allow_full_images, rotated=True)
