"""DOTA Task1 (oriented boxes) evaluation the official way.

The rules are those of ``dota_evaluation_task1.py`` in the DOTA devkit
(https://github.com/CAPTAIN-WHU/DOTA_devkit), the script behind the DOTA
evaluation server's Task1 table; this is a re-implementation, not a copy.
They are Task2's (:mod:`.dota_task2`: detections of a class by score, each
to the ground truth of highest overlap, true positive above ``iou_thr``
(0.5) when not difficult and not matched yet, difficult objects neither
hits nor misses nor positives, VOC07 11-point AP at the devkit's recall
points, mean over all the classes) with the overlap of Task1:

* ground truth and detections are quadrilaterals ``x1 y1 ... x4 y4``; the
  ground truth is read as floats, not truncated (the devkit's ``parse_gt``);
* a horizontal pre-filter: only the objects whose bounding box has an IoU
  above 0 with the detection's, by the +1 pixel convention of Task2, are
  candidates (the devkit's ``BBGT_keep``); a detection without candidates is
  a false positive;
* the overlap of a candidate is the polygons' IoU, without +1 pixel: the
  intersection area over the sum of both areas less it.

Polygon IoU: :func:`poly_iou` computes it as the devkit's ``polyiou.cpp``
does, in float64: both polygons turned counter-clockwise, the intersection
the sum over all pairs of edges of the signed intersection of the two
triangles that the edges make with a common point, each triangle clipped by
the three sides of the other (Sutherland-Hodgman, with the devkit's
tolerance of 1e-8 on which side a point lies). That decomposition is exact
for any simple quadrilateral, convex or not, and gives the devkit's value
for a self-intersecting one. The sum does not depend on the common point:
the devkit takes (0, 0), this the first vertex of the first polygon, which
makes two of its four triangles vanish (8 pairs of triangles instead of 16)
and keeps the numbers small: on quadrilaterals thousands of pixels from
(0, 0), as in DOTA, the two agree to about 1e-10, the rounding of the
devkit's long thin triangles. mmcv's ``box_iou_quadri`` is not used: its
CPU kernel is float32 only and takes the convex hull of the intersection
points, so it differs from the devkit on non-convex ground truth.

Detections of the metric are mmrotate's oriented boxes ``(cx, cy, w, h,
angle)``, turned into their four corners (:func:`rbox_to_poly`, the order of
mmrotate's ``rbox2qbox``); submission files ``Task1_<class>.txt`` hold one
line ``<image> <score> x1 y1 x2 y2 x3 y3 x4 y4`` per detection.
"""
from collections import defaultdict
from typing import Dict, List, Sequence, Tuple

import numpy as np

from .dota_task2 import (Task2GroundTruth, class_detections, class_objects,
                         devkit_ap, load_task2_ground_truth,
                         mean_over_classes, write_submission_files)
from .patch_merge import ImageDetections, merge_rotated_patch_detections

#: the devkit's tolerance of polyiou.cpp's ``sig`` (side of a line)
EPS = 1e-8
#: polygon pairs per vectorised block of :func:`poly_iou` (memory bound)
BLOCK = 2048


def rbox_to_poly(rboxes: np.ndarray) -> np.ndarray:
    """Oriented boxes ``(n, 5)`` ``(cx, cy, w, h, angle in radians)`` ->
    their corners ``(n, 8)``, float32, in the order of mmrotate's
    ``rbox2qbox`` (computed in float64, then rounded)."""
    cx, cy, w, h, a = np.asarray(rboxes, np.float64).reshape(-1, 5).T
    cos, sin = np.cos(a), np.sin(a)
    wx, wy = w / 2 * cos, w / 2 * sin
    hx, hy = -h / 2 * sin, h / 2 * cos
    return np.stack([
        cx + wx + hx, cy + wy + hy, cx + wx - hx, cy + wy - hy,
        cx - wx - hx, cy - wy - hy, cx - wx + hx, cy - wy + hy
    ], axis=1).astype(np.float32)


def load_task1_ground_truth(ann_dir: str, stems: Sequence[str],
                            classes: Sequence[str]
                            ) -> Dict[str, Task2GroundTruth]:
    """``<ann_dir>/<stem>.txt`` of every image ``stem``, the objects'
    polygons ``(n, 8)`` as floats (Task1's ground truth); a missing file is
    an :class:`AnnotationDirError` naming it."""
    return load_task2_ground_truth(ann_dir, stems, classes, polygons=True)


def _cross(o: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``(a - o) x (b - o)`` of points ``(..., 2)``."""
    return ((a[..., 0] - o[..., 0]) * (b[..., 1] - o[..., 1]) -
            (b[..., 0] - o[..., 0]) * (a[..., 1] - o[..., 1]))


def _side(value: np.ndarray) -> np.ndarray:
    """-1, 0 or 1 with the devkit's tolerance (polyiou.cpp's ``sig``)."""
    return (value > EPS).astype(np.int8) - (value < -EPS)


def shoelace(points: np.ndarray) -> np.ndarray:
    """Signed areas of polygons ``(m, k, 2)`` (positive counter-clockwise
    in x-right, y-up axes); repeated vertices add nothing."""
    return 0.5 * _cross(np.zeros(2), points,
                        np.roll(points, -1, axis=1)).sum(axis=1)


def _compact(points: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """Polygons ``(m, k, 2)`` of the kept points only, in their order, as
    narrow as the row with most of them: a row with fewer repeats its last
    kept point (a zero-length edge, which changes neither the area nor a
    later clip); a row without a kept point collapses to one point (area
    0)."""
    order = np.argsort(~keep, axis=1, kind='stable')
    width = max(int(keep.sum(axis=1).max()), 1)
    points = np.take_along_axis(points, order[:, :width, None], axis=1)
    keep = np.take_along_axis(keep, order[:, :width], axis=1)
    index = np.where(keep, np.arange(width), 0)
    index = np.maximum.accumulate(index, axis=1)
    return np.take_along_axis(points, index[..., None], axis=1)


def _cut(poly: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The part of polygons ``(m, k, 2)`` left of the lines ``a -> b``
    ``(m, 2)`` (polyiou.cpp's ``polygon_cut``): each vertex strictly left is
    kept, and where an edge changes side its crossing with the line
    (``lineCross``) is added."""
    nxt = np.roll(poly, -1, axis=1)
    s1 = _cross(a[:, None], b[:, None], poly)
    s2 = np.roll(s1, -1, axis=1)
    g1, g2 = _side(s1), _side(s2)
    crosses = g1 != g2
    denom = np.where(crosses & (s2 != s1), s2 - s1, 1.)
    meet = (poly * s2[..., None] - nxt * s1[..., None]) / denom[..., None]
    points = np.stack([poly, meet], axis=2).reshape(len(poly), -1, 2)
    keep = np.stack([g1 > 0, crosses], axis=2).reshape(len(poly), -1)
    return _compact(points, keep)


def _triangle_intersections(a: np.ndarray, b: np.ndarray, c: np.ndarray,
                            d: np.ndarray) -> np.ndarray:
    """Signed intersection areas of the triangles ``(0, a, b)`` and
    ``(0, c, d)`` (points ``(m, 2)``; polyiou.cpp's ``intersectArea``): the
    sign is that of the product of their orientations, 0 for a degenerate
    triangle."""
    origin = np.zeros_like(a)
    s1, s2 = _side(_cross(origin, a, b)), _side(_cross(origin, c, d))
    a, b = np.where(s1[:, None] < 0, b, a), np.where(s1[:, None] < 0, a, b)
    c, d = np.where(s2[:, None] < 0, d, c), np.where(s2[:, None] < 0, c, d)
    poly = np.stack([origin, a, b], axis=1)
    for start, end in ((origin, c), (c, d), (d, origin)):
        poly = _cut(poly, start, end)
    return np.abs(shoelace(poly)) * s1 * s2


def _poly_iou_block(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """:func:`poly_iou` of one block of pairs, polygons ``(m, 4, 2)``."""
    area_p, area_q = shoelace(p), shoelace(q)
    p = np.where(area_p[:, None, None] < 0, p[:, ::-1], p)
    q = np.where(area_q[:, None, None] < 0, q[:, ::-1], q)
    # the origin at p's first vertex: the triangles of p's two edges that
    # touch it vanish, the other two pair with q's four edges
    q, p = q - p[:, :1], p - p[:, :1]
    m = len(p)
    a = np.repeat(p[:, 1:3], 4, axis=1).reshape(-1, 2)
    b = np.repeat(p[:, 2:4], 4, axis=1).reshape(-1, 2)
    c = np.tile(q, (1, 2, 1)).reshape(-1, 2)
    d = np.tile(np.roll(q, -1, axis=1), (1, 2, 1)).reshape(-1, 2)
    inter = _triangle_intersections(a, b, c, d).reshape(m, 8).sum(axis=1)
    union = np.abs(area_p) + np.abs(area_q) - inter
    with np.errstate(divide='ignore', invalid='ignore'):
        return inter / union


def poly_iou(polys1: np.ndarray, polys2: np.ndarray) -> np.ndarray:
    """IoU of each pair of quadrilaterals ``(m, 8)`` x ``(m, 8)`` -> ``(m,)``,
    float64, as the devkit's ``polyiou.iou_poly`` (see the module: the
    intersection by signed origin triangles, exact for simple polygons,
    convex or not). Two polygons of zero area give nan, as there."""
    p = np.asarray(polys1, np.float64).reshape(-1, 4, 2)
    q = np.asarray(polys2, np.float64).reshape(-1, 4, 2)
    out = np.zeros(len(p))
    for i in range(0, len(p), BLOCK):
        out[i:i + BLOCK] = _poly_iou_block(p[i:i + BLOCK], q[i:i + BLOCK])
    return out


def _extents(polys: np.ndarray) -> np.ndarray:
    """Bounding boxes ``(n, 4)`` of polygons ``(n, 8)``."""
    xs, ys = polys[:, 0::2], polys[:, 1::2]
    return np.stack([xs.min(1), ys.min(1), xs.max(1), ys.max(1)], axis=1)


def task1_overlaps(polys: np.ndarray, gt_polys: np.ndarray) -> np.ndarray:
    """Overlaps ``(n, g)`` of detections ``(n, 8)`` with ground truth
    ``(g, 8)`` by the devkit's Task1 rule: the polygon IoU where the
    bounding boxes' +1 pixel IoU is above 0, ``-inf`` elsewhere (not a
    candidate: never matched, and a detection without candidate is a false
    positive)."""
    polys = np.asarray(polys, np.float64).reshape(-1, 8)
    gt_polys = np.asarray(gt_polys, np.float64).reshape(-1, 8)
    det, gt = _extents(polys)[:, None], _extents(gt_polys)[None]
    iw = np.maximum(np.minimum(det[..., 2], gt[..., 2]) -
                    np.maximum(det[..., 0], gt[..., 0]) + 1., 0.)
    ih = np.maximum(np.minimum(det[..., 3], gt[..., 3]) -
                    np.maximum(det[..., 1], gt[..., 1]) + 1., 0.)
    inters = iw * ih
    union = ((det[..., 2] - det[..., 0] + 1.) *
             (det[..., 3] - det[..., 1] + 1.) +
             (gt[..., 2] - gt[..., 0] + 1.) *
             (gt[..., 3] - gt[..., 1] + 1.) - inters)
    rows, cols = np.nonzero(inters / union > 0)
    out = np.full((len(polys), len(gt_polys)), -np.inf)
    out[rows, cols] = poly_iou(polys[rows], gt_polys[cols])
    return out


def task1_class_ap(dets: ImageDetections, gts: Dict[str, Task2GroundTruth],
                   label: int, iou_thr: float = 0.5) -> float:
    """The devkit's Task1 AP of class ``label`` (see the module's rules);
    ``dets`` hold polygons ``(n, 8)``."""
    images, _, polys = class_detections(dets, label, width=8)
    objects, npos = class_objects(gts, label)
    by_image = defaultdict(list)
    for d, stem in enumerate(images):
        by_image[stem].append(d)
    rows: List[np.ndarray] = [np.zeros(0)] * len(images)
    for stem, index in by_image.items():
        if stem in objects:  # else devkit_ap names the image
            overlaps = task1_overlaps(polys[index], objects[stem][0])
            for d, row in zip(index, overlaps):
                rows[d] = row
    return devkit_ap(images, rows.__getitem__, objects, npos, iou_thr,
                     task='Task1')


def task1_map(dets: ImageDetections, gts: Dict[str, Task2GroundTruth],
              classes: Sequence[str], iou_thr: float = 0.5
              ) -> Tuple[float, Dict[str, float]]:
    """mAP (0-1) over ``classes`` and the AP of each class, DOTA Task1
    rules; ``dets`` (polygons) and ``gts`` are keyed by image name (every
    image of ``dets`` needs an entry in ``gts``)."""
    return mean_over_classes(task1_class_ap, dets, gts, classes, iou_thr)


def evaluate_task1(dets: ImageDetections, ann_dir: str,
                   classes: Sequence[str], iou_thr: float = 0.5
                   ) -> Tuple[float, Dict[str, float]]:
    """:func:`task1_map` of full-image detections (polygons ``(n, 8)``)
    against the labelTxt files of their images in ``ann_dir``: the images
    evaluated are those of ``dets`` (an image without detections has an
    empty entry)."""
    gts = load_task1_ground_truth(ann_dir, sorted(dets), classes)
    return task1_map(dets, gts, classes, iou_thr)


def merge_task1_patches(
        patches: Sequence[Tuple[str, np.ndarray, np.ndarray, np.ndarray]],
        iou_thr: float = 0.1,
        allow_full_images: bool = True) -> ImageDetections:
    """Oriented patch detections ``(name, rboxes (n, 5), scores, labels)``
    on their full images (:func:`merge_rotated_patch_detections`: shifted,
    rescaled, class-wise rotated NMS at ``iou_thr``) as polygons
    ``(n, 8)``, ready for :func:`evaluate_task1` and
    :func:`write_task1_files`."""
    merged = merge_rotated_patch_detections(patches, iou_thr,
                                            allow_full_images)
    return {stem: (rbox_to_poly(boxes), scores, labels)
            for stem, (boxes, scores, labels) in merged.items()}


def write_task1_files(out_dir: str, dets: ImageDetections,
                      classes: Sequence[str]) -> List[str]:
    """The Task1 submission: ``<out_dir>/Task1_<class>.txt`` per class, one
    line ``<image> <score> x1 y1 x2 y2 x3 y3 x4 y4`` per detection (polygons
    ``(n, 8)``), each number the shortest text of its float32 value.
    Returns the file paths."""
    return write_submission_files(out_dir, dets, classes, 'Task1')
