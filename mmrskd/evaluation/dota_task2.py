"""DOTA Task2 (horizontal boxes) evaluation the official way.

The rules are those of ``dota_evaluation_task2.py`` in the DOTA devkit
(https://github.com/CAPTAIN-WHU/DOTA_devkit), the script behind the DOTA
evaluation server and so behind every published DOTA Task2 table; this is a
re-implementation, not a copy:

* per class, the detections of all images sorted by score (highest first);
* IoU with the devkit's +1 pixel convention (a box ``x1..x2`` is
  ``x2 - x1 + 1`` wide, in the intersection and in both areas);
* a detection goes to the ground truth of the same image and class with the
  highest IoU (already matched or not, difficult or not); it is a true
  positive when that IoU is *above* ``iou_thr`` (strictly, 0.5) and that
  object is not difficult and not matched yet, a false positive when the IoU
  is not above ``iou_thr`` or the object was matched already, and neither
  when the object is difficult; difficult objects do not count as positives;
* ground-truth boxes are integers: the devkit truncates them with
  ``int(float(v))``;
* AP is VOC07's 11-point AP (``use_07_metric=True``) at the devkit's recall
  points ``np.arange(0., 1.1, 0.1)`` - their exact floats, so a recall of
  exactly 0.3 misses the point 0.30000000000000004, as in the devkit;
* mAP is the mean over all the classes, including a class without ground
  truth or without detections (AP 0 there; the devkit divides by its
  15 classes and fails on an empty result file).

Ground-truth boxes: the devkit's ``parse_gt`` takes the 1st and 3rd point
of each line, which are the corners of the box in the Task2 ground truth
files (``xmin ymin xmax ymin xmax ymax xmin ymax``, the order of the
devkit's ``dots4ToRec8``). Here the box is the extent of the
polygon, the same on those files, and the box of the Task2 ground truth on
the oriented ``labelTxt`` files, where the 1st and 3rd points are not the
box. Ties in score keep the order of the images' names then of the
detections (the devkit's unstable ``np.argsort`` leaves it open).
"""
import os
import os.path as osp
from dataclasses import dataclass
from typing import Callable, Dict, List, Sequence, Tuple

import numpy as np

from ..datasets.dota_labels import parse_dota_file
from .patch_merge import ImageDetections

#: the devkit's 11 recall points, these exact floats (0.30000000000000004...)
RECALL_POINTS = np.arange(0., 1.1, 0.1)


class AnnotationDirError(FileNotFoundError):
    """``ann_dir`` or one image's labelTxt file in it is missing."""


@dataclass
class Task2GroundTruth:
    """The objects of one full image: integer boxes ``(n, 4)`` (Task2) or
    polygons ``(n, 8)`` (Task1, :mod:`.dota_task1`), class indices ``(n,)``
    and difficult flags ``(n,)``."""
    boxes: np.ndarray
    labels: np.ndarray
    difficult: np.ndarray


#: per image, one class's ground truth: boxes, difficult flags, matched flags
ClassObjects = Dict[str, Tuple[np.ndarray, np.ndarray, np.ndarray]]


def task2_box(poly: Sequence[float]) -> Tuple[int, int, int, int]:
    """Integer ``(x1, y1, x2, y2)`` of a polygon as the Task2 ground truth
    has it: its extent, truncated like the devkit's ``int(float(v))``."""
    xs, ys = poly[0::2], poly[1::2]
    return int(min(xs)), int(min(ys)), int(max(xs)), int(max(ys))


def read_task2_ground_truth(path: str, classes: Sequence[str],
                            polygons: bool = False) -> Task2GroundTruth:
    """One labelTxt file (oriented or Task2); objects of a class outside
    ``classes`` are left out, as the devkit only reads its classes. The
    boxes are the Task2 boxes, or with ``polygons`` the polygons as written
    (Task1: the devkit reads them as floats, untruncated)."""
    objs = [o for o in parse_dota_file(path).objects
            if o.category in classes]
    return Task2GroundTruth(
        boxes=np.array([o.poly if polygons else task2_box(o.poly)
                        for o in objs],
                       np.float64).reshape(-1, 8 if polygons else 4),
        labels=np.array([classes.index(o.category) for o in objs], np.int64),
        difficult=np.array([o.difficult for o in objs], bool))


def check_ann_dir(ann_dir: str, task: str = 'Task2') -> None:
    """Raise :class:`AnnotationDirError` when ``ann_dir`` is no folder;
    ``task`` (``'Task1'`` / ``'Task2'``) names the metric in the message."""
    if not osp.isdir(ann_dir):
        raise AnnotationDirError(
            f'DOTA {task}: ann_dir "{ann_dir}" does not exist. Give the '
            'labelTxt folder of the full (unsplit) images the patches were '
            f"cut from (DOTA{task}Metric's ann_dir, dota_merge.py's "
            '--ann-dir).')


def load_task2_ground_truth(ann_dir: str, stems: Sequence[str],
                            classes: Sequence[str], polygons: bool = False
                            ) -> Dict[str, Task2GroundTruth]:
    """``<ann_dir>/<stem>.txt`` of every image ``stem``; a missing file is
    an :class:`AnnotationDirError` naming it. ``polygons``: keep the
    polygons (Task1) instead of the Task2 boxes."""
    task = 'Task1' if polygons else 'Task2'
    check_ann_dir(ann_dir, task)
    gts = {}
    for stem in stems:
        path = osp.join(ann_dir, stem + '.txt')
        if not osp.isfile(path):
            raise AnnotationDirError(
                f'DOTA {task}: no labelTxt file "{path}" for the evaluated '
                f'image "{stem}": ann_dir must hold the labelTxt files of the '
                'full images the patches were cut from.')
        gts[stem] = read_task2_ground_truth(path, tuple(classes), polygons)
    return gts


def voc07_ap(recall: np.ndarray, precision: np.ndarray) -> float:
    """VOC07 11-point AP: the mean over :data:`RECALL_POINTS` of the best
    precision at a recall of at least that point (0 where none)."""
    ap = 0.
    for t in RECALL_POINTS:
        reached = recall >= t
        best = float(np.max(precision[reached])) if reached.any() else 0.
        ap += best / 11.
    return ap


def task2_overlaps(box: np.ndarray, gt_boxes: np.ndarray) -> np.ndarray:
    """IoU of one box with each ground-truth box, +1 pixel convention."""
    iw = np.maximum(np.minimum(gt_boxes[:, 2], box[2]) -
                    np.maximum(gt_boxes[:, 0], box[0]) + 1., 0.)
    ih = np.maximum(np.minimum(gt_boxes[:, 3], box[3]) -
                    np.maximum(gt_boxes[:, 1], box[1]) + 1., 0.)
    inters = iw * ih
    union = ((box[2] - box[0] + 1.) * (box[3] - box[1] + 1.) +
             (gt_boxes[:, 2] - gt_boxes[:, 0] + 1.) *
             (gt_boxes[:, 3] - gt_boxes[:, 1] + 1.) - inters)
    return inters / union


def class_detections(dets: ImageDetections, label: int, width: int = 4
                     ) -> Tuple[List[str], np.ndarray, np.ndarray]:
    """Images, scores and boxes (``width`` numbers each: 4 for Task2, 8 for
    Task1) of one class's detections, by score (stable: ties keep the order
    of the sorted image names)."""
    images, scores, boxes = [], [], []
    for stem, (b, s, lab) in sorted(dets.items()):
        keep = np.asarray(lab) == label
        images += [stem] * int(keep.sum())
        scores.append(np.asarray(s, np.float64)[keep])
        boxes.append(np.asarray(b, np.float64).reshape(-1, width)[keep])
    scores = np.concatenate(scores) if scores else np.zeros(0)
    boxes = np.concatenate(boxes) if boxes else np.zeros((0, width))
    order = np.argsort(-scores, kind='stable')
    return [images[i] for i in order], scores[order], boxes[order]


def class_objects(gts: Dict[str, Task2GroundTruth],
                  label: int) -> Tuple[ClassObjects, int]:
    """The ground truth of class ``label`` per image (boxes, difficult
    flags, matched flags all False) and its number of positives (the
    objects that are not difficult)."""
    objects, npos = {}, 0
    for stem, gt in gts.items():
        mine = gt.labels == label
        objects[stem] = (gt.boxes[mine], gt.difficult[mine],
                         np.zeros(int(mine.sum()), bool))
        npos += int((~gt.difficult[mine]).sum())
    return objects, npos


def classes_without_positives(gts: Dict[str, Task2GroundTruth],
                              classes: Sequence[str]) -> List[str]:
    """The names of the classes with no object that counts (none, or only
    difficult ones) in ``gts``: their AP is 0, and the devkit's mean still
    divides by them, so a subset of the images reads low."""
    return [name for c, name in enumerate(classes)
            if class_objects(gts, c)[1] == 0]


def devkit_ap(images: Sequence[str],
              overlaps_of: Callable[[int], np.ndarray],
              objects: ClassObjects, npos: int, iou_thr: float = 0.5,
              task: str = 'Task2') -> float:
    """The devkit's greedy matching and 11-point AP of one class, shared by
    Task1 and Task2: detection ``d`` (on image ``images[d]``, by score) goes
    to the object of highest ``overlaps_of(d)`` (its overlaps with the
    image's objects; the first of equal ones); a true positive when that
    overlap is above ``iou_thr`` (a nan one is not, as ``nan > thr`` in the
    devkit) and the object neither difficult nor matched yet."""
    tp, fp = np.zeros(len(images)), np.zeros(len(images))
    for d, stem in enumerate(images):
        if stem not in objects:
            raise ValueError(f'DOTA {task}: detections on image "{stem}", '
                             'which has no ground truth entry.')
        _, difficult, matched = objects[stem]
        overlaps = overlaps_of(d)
        if not len(overlaps):
            fp[d] = 1.
            continue
        j = int(np.argmax(overlaps))
        if not overlaps[j] > iou_thr:
            fp[d] = 1.
        elif not difficult[j]:
            tp[d], fp[d] = (0., 1.) if matched[j] else (1., 0.)
            matched[j] = True
    if npos == 0:
        return 0.  # the devkit's recall is nan there: no point reached
    tp, fp = np.cumsum(tp), np.cumsum(fp)
    precision = tp / np.maximum(tp + fp, np.finfo(np.float64).eps)
    return voc07_ap(tp / float(npos), precision)


def task2_class_ap(dets: ImageDetections, gts: Dict[str, Task2GroundTruth],
                   label: int, iou_thr: float = 0.5) -> float:
    """The devkit's AP of class ``label`` (see the module's rules)."""
    images, _, boxes = class_detections(dets, label)
    objects, npos = class_objects(gts, label)

    def overlaps_of(d: int) -> np.ndarray:
        return task2_overlaps(boxes[d], objects[images[d]][0])

    return devkit_ap(images, overlaps_of, objects, npos, iou_thr)


def task2_map(dets: ImageDetections, gts: Dict[str, Task2GroundTruth],
              classes: Sequence[str], iou_thr: float = 0.5
              ) -> Tuple[float, Dict[str, float]]:
    """mAP (0-1) over ``classes`` and the AP of each class, DOTA Task2
    rules; ``dets`` and ``gts`` are keyed by image name (every image of
    ``dets`` needs an entry in ``gts``)."""
    return mean_over_classes(task2_class_ap, dets, gts, classes, iou_thr)


def mean_over_classes(class_ap: Callable[..., float], dets: ImageDetections,
                      gts: Dict[str, Task2GroundTruth],
                      classes: Sequence[str], iou_thr: float
                      ) -> Tuple[float, Dict[str, float]]:
    """``class_ap(dets, gts, label, iou_thr)`` of every class and their
    mean over all of ``classes`` (0 for a class without ground truth or
    detections, as the devkit)."""
    per_class = {name: class_ap(dets, gts, c, iou_thr)
                 for c, name in enumerate(classes)}
    return sum(per_class.values()) / len(classes), per_class


def evaluate_task2(dets: ImageDetections, ann_dir: str,
                   classes: Sequence[str], iou_thr: float = 0.5
                   ) -> Tuple[float, Dict[str, float]]:
    """:func:`task2_map` of full-image detections against the labelTxt files
    of their images in ``ann_dir``: the images evaluated are those of
    ``dets`` (an image without detections has an empty entry)."""
    gts = load_task2_ground_truth(ann_dir, sorted(dets), classes)
    return task2_map(dets, gts, classes, iou_thr)


def _number(value: float) -> str:
    """The shortest text that reads back as the same float32."""
    return np.format_float_positional(np.float32(value), unique=True,
                                      trim='-')


def write_task2_files(out_dir: str, dets: ImageDetections,
                      classes: Sequence[str]) -> List[str]:
    """The Task2 submission: ``<out_dir>/Task2_<class>.txt`` per class, one
    line ``<image> <score> x1 y1 x2 y2`` per detection, each number the
    shortest text of its float32 value (so the scores keep their order).
    Returns the file paths."""
    return write_submission_files(out_dir, dets, classes, 'Task2')


def write_submission_files(out_dir: str, dets: ImageDetections,
                           classes: Sequence[str], task: str) -> List[str]:
    """``<out_dir>/<task>_<class>.txt`` per class, one line ``<image>
    <score> <box numbers>`` per detection (as :func:`write_task2_files`).
    Returns the file paths."""
    os.makedirs(out_dir, exist_ok=True)
    paths = []
    for c, name in enumerate(classes):
        paths.append(osp.join(out_dir, f'{task}_{name}.txt'))
        with open(paths[-1], 'w') as f:
            for stem, (boxes, scores, labels) in sorted(dets.items()):
                keep = np.asarray(labels) == c
                for box, score in zip(np.asarray(boxes)[keep],
                                      np.asarray(scores)[keep]):
                    f.write(' '.join([stem, _number(score),
                                      *map(_number, box)]) + '\n')
    return paths
