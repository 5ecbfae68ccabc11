"""Patch detections back on the full images they were cut from.

Patch files are named ``<image>__<rate>__<x0>___<y0>.png`` (the DOTA
devkit's scheme, written by ``tools/dataset_converters/dota_split.py``), so
a detection in a patch goes back to ``(box + [x0, y0, x0, y0]) / rate`` in
its source image; the duplicates of overlapping patches are then removed
with a class-wise NMS. Used by :class:`DOTATask2Metric` and by
``tools/dataset_converters/dota_merge.py``.
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
    from mmcv.ops import batched_nms
    grouped = defaultdict(list)
    for name, boxes, scores, labels in patches:
        stem, rate, x0, y0 = _placement(name, allow_full_images)
        boxes = (np.asarray(boxes, np.float32).reshape(-1, 4) +
                 np.array([x0, y0, x0, y0], np.float32)) / rate
        grouped[stem].append((boxes, np.asarray(scores, np.float32),
                              np.asarray(labels, np.int64)))
    merged = {}
    for stem, parts in grouped.items():
        boxes = np.concatenate([p[0] for p in parts])
        scores = np.concatenate([p[1] for p in parts])
        labels = np.concatenate([p[2] for p in parts])
        if len(boxes):
            dets, keep = batched_nms(
                torch.from_numpy(boxes), torch.from_numpy(scores),
                torch.from_numpy(labels),
                dict(type='nms', iou_threshold=iou_thr))
            keep = keep.numpy()
            boxes, scores, labels = boxes[keep], scores[keep], labels[keep]
        merged[stem] = (boxes, scores, labels)
    return merged
