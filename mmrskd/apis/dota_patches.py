"""Cutting large DOTA-style images into overlapping patches, the offline
step before training (``tools/dataset_converters/dota_split.py``); the
patches are then read as a DOTA dataset.

Patch files are named ``<image>__<rate>__<x0>___<y0>.png`` (the DOTA
devkit's scheme), so a detection in a patch can be put back at
``(box + [x0, y0, x0, y0]) / rate`` in its source image: that and the
class-wise NMS of the duplicates live in :mod:`mmrskd.evaluation.patch_merge`
(re-exported here).
"""
import os
import os.path as osp
from typing import List, Sequence, Tuple

import cv2
import numpy as np

from ..datasets.dota_labels import DOTAObject, parse_dota_file
from ..evaluation.patch_merge import (PATCH_NAME,  # noqa: F401
                                      merge_patch_detections,
                                      parse_patch_name)


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


def ensure_dirs(out_dir: str) -> None:
    for sub in ('images', 'labelTxt'):
        os.makedirs(osp.join(out_dir, sub), exist_ok=True)
