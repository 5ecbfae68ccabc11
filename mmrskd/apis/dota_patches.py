"""Cutting large DOTA-style images into overlapping patches, and mapping
patch detections back to the full images (with NMS): the offline steps
before training and after testing (``tools/dataset_converters/dota_split.py``
and ``dota_merge.py``); the patches are then read as a DOTA dataset.

Patch files are named ``<image>__<rate>__<x0>___<y0>.png`` (the DOTA
devkit's scheme), so a detection in a patch can be put back at
``(box + [x0, y0, x0, y0]) / rate`` in its source image.
"""
import os
import os.path as osp
import re
from collections import defaultdict
from typing import Dict, List, Sequence, Tuple

import cv2
import numpy as np
import torch

from ..datasets.dota_labels import DOTAObject, parse_dota_file
from ..datasets.image_files import IMG_EXTENSIONS

PATCH_NAME = re.compile(r'^(?P<stem>.+)__(?P<rate>[\d.]+)__(?P<x>-?\d+)___'
                        r'(?P<y>-?\d+)$')


def window_starts(length: int, size: int, gap: int) -> List[int]:
    """Start offsets of windows of ``size`` with ``gap`` overlap that cover
    ``[0, length)``; the last window is flush with the end."""
    if gap >= size:
        raise ValueError(f'gap ({gap}) must be smaller than the patch size '
                         f'({size}).')
    if length <= size:
        return [0]
    starts = list(range(0, length - size, size - gap))
    starts.append(length - size)
    return starts


def patch_objects(objects: Sequence[DOTAObject], x0: float, y0: float,
                  size: int, keep_share: float
                  ) -> List[Tuple[List[float], str, bool]]:
    """Objects of one window: kept when at least ``keep_share`` of their box
    lies inside; polygons clipped to the window and shifted to it."""
    out = []
    for obj in objects:
        bx1, by1, bx2, by2 = obj.hbox()
        area = (bx2 - bx1) * (by2 - by1)
        if area <= 0:
            continue
        iw = min(bx2, x0 + size) - max(bx1, x0)
        ih = min(by2, y0 + size) - max(by1, y0)
        if iw <= 0 or ih <= 0 or iw * ih / area < keep_share:
            continue
        poly = []
        for i in range(4):
            poly.append(min(max(obj.poly[2 * i] - x0, 0), size))
            poly.append(min(max(obj.poly[2 * i + 1] - y0, 0), size))
        out.append((poly, obj.category, obj.difficult))
    return out


def split_image(img_path: str, label_path: str, out_dir: str,
                size: int = 1024, gap: int = 200,
                rates: Sequence[float] = (1.0, ), keep_share: float = 0.7,
                skip_empty: bool = False, classes=None) -> int:
    """Cut one image (and its labelTxt) into patches under ``out_dir``
    (``images/`` and ``labelTxt/``). Returns the number of patches."""
    img = cv2.imread(img_path, cv2.IMREAD_COLOR)
    if img is None:
        raise RuntimeError(f'Cannot decode image "{img_path}".')
    ann = parse_dota_file(label_path, classes)
    stem = osp.splitext(osp.basename(img_path))[0]
    n = 0
    for rate in rates:
        scaled = img if rate == 1 else cv2.resize(
            img, None, fx=rate, fy=rate, interpolation=cv2.INTER_CUBIC)
        objs = [DOTAObject(tuple(v * rate for v in o.poly), o.category,
                           o.difficult, o.line) for o in ann.objects]
        h, w = scaled.shape[:2]
        for y0 in window_starts(h, size, gap):
            for x0 in window_starts(w, size, gap):
                kept = patch_objects(objs, x0, y0, size, keep_share)
                if skip_empty and not kept:
                    continue
                patch = np.zeros((size, size, 3), np.uint8)
                crop = scaled[y0:y0 + size, x0:x0 + size]
                patch[:crop.shape[0], :crop.shape[1]] = crop
                name = f'{stem}__{rate:g}__{x0}___{y0}'
                cv2.imwrite(osp.join(out_dir, 'images', name + '.png'), patch)
                with open(osp.join(out_dir, 'labelTxt', name + '.txt'),
                          'w') as f:
                    if ann.imagesource:
                        f.write(f'imagesource:{ann.imagesource}\n')
                    if ann.gsd is not None:
                        f.write(f'gsd:{ann.gsd / rate:g}\n')
                    for poly, cat, difficult in kept:
                        coords = ' '.join(f'{v:.1f}' for v in poly)
                        f.write(f'{coords} {cat} {int(difficult)}\n')
                n += 1
    return n


def parse_patch_name(name: str) -> Tuple[str, float, int, int]:
    """``'P0001__1__824___0'`` -> ``('P0001', 1.0, 824, 0)``."""
    base = osp.basename(name)
    stem, ext = osp.splitext(base)
    # '0.5__0___0' has no extension; only strip real ones
    m = PATCH_NAME.match(stem if ext.lower() in IMG_EXTENSIONS else base)
    if m is None:
        raise ValueError(f'"{name}" is not a patch name '
                         '(<image>__<rate>__<x0>___<y0>).')
    return m['stem'], float(m['rate']), int(m['x']), int(m['y'])


def merge_patch_detections(
        patches: Sequence[Tuple[str, np.ndarray, np.ndarray, np.ndarray]],
        iou_thr: float = 0.5) -> Dict[str, Tuple[np.ndarray, np.ndarray,
                                                 np.ndarray]]:
    """Map ``(patch name, boxes (n, 4), scores (n,), labels (n,))`` back to
    full images and remove the duplicates of overlapping patches with a
    class-wise NMS. Returns ``image stem -> (boxes, scores, labels)``."""
    from mmcv.ops import batched_nms
    grouped = defaultdict(list)
    for name, boxes, scores, labels in patches:
        stem, rate, x0, y0 = parse_patch_name(name)
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


def ensure_dirs(out_dir: str) -> None:
    for sub in ('images', 'labelTxt'):
        os.makedirs(osp.join(out_dir, sub), exist_ok=True)
