# Copyright (c) mmrskd authors.
"""Map patch detections back to the full images (class-wise NMS).

    python tools/test.py CONFIG CKPT --out patches.pkl
    python tools/dataset_converters/dota_merge.py patches.pkl merged/ \
        --ann-dir data/DOTA/val/labelTxt

reads the predictions that ``tools/test.py --out`` dumps for a patch set
(``dota_split.py`` names; other names are taken as full images). Horizontal
boxes (a detection config): writes the DOTA Task2 submission files
``Task2_<class>.txt`` (``<image> <score> x1 y1 x2 y2``) to OUT_DIR and, with
``--ann-dir``, prints the official DOTA Task2 mAP of the full images (the
DOTA devkit's rules, VOC07 11-point AP: the number ``DOTATask2Metric`` gives
in ``tools/test.py``) and, as a secondary number, mmdet's VOC area-mode
mAP@0.5 of the same detections (not the DOTA protocol). Oriented boxes
(``(cx, cy, w, h, angle)``, a rotated config): merged with a rotated NMS,
writes the Task1 files ``Task1_<class>.txt``
(``<image> <score> x1 y1 x2 y2 x3 y3 x4 y4``) and, with ``--ann-dir``, prints
the official DOTA Task1 mAP (the number ``DOTATask1Metric`` gives). The
kind is read from the boxes (5 numbers: oriented); ``--iou-thr`` (the NMS
threshold) is 0.5 for Task2 and 0.1 for Task1 (the devkit's) by default.
"""
import argparse
import glob
import os.path as osp
import pickle
import sys

import numpy as np

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from mmrskd.datasets.dota_labels import (DOTA_V1_CLASSES,  # noqa: E402
                                         parse_dota_file)
from mmrskd.evaluation import (evaluate_task1,  # noqa: E402
                               evaluate_task2, merge_patch_detections,
                               merge_task1_patches, write_task1_files,
                               write_task2_files)


def _np(x):
    """A tensor, an mmdet / mmrotate box structure or an array as numpy."""
    return x.numpy() if hasattr(x, 'numpy') else np.asarray(x)


def load_patch_results(path):
    with open(path, 'rb') as f:
        results = pickle.load(f)
    out = []
    for r in results:
        pred = r['pred_instances']
        out.append((osp.basename(r['img_path']), _np(pred['bboxes']),
                    _np(pred['scores']), _np(pred['labels'])))
    return out


def evaluate_area_mode(merged, ann_dir, classes, iou_thr=0.5):
    """Secondary number: mmdet's VOC mAP (area mode, IoU >= ``iou_thr``, no
    +1 pixel) of merged detections against all labelTxt files of
    ``ann_dir``; not the DOTA protocol (``evaluate_task2`` is)."""
    from mmdet.evaluation import eval_map
    dets, anns = [], []
    for txt in sorted(glob.glob(osp.join(ann_dir, '*.txt'))):
        stem = osp.splitext(osp.basename(txt))[0]
        objs = parse_dota_file(txt, classes).objects
        boxes, scores, labels = merged.get(
            stem, (np.zeros((0, 4)), np.zeros(0), np.zeros(0, int)))
        dets.append([np.hstack([boxes[labels == c],
                                scores[labels == c, None]])
                     for c in range(len(classes))])
        keep = [o for o in objs if not o.difficult]
        hard = [o for o in objs if o.difficult]
        anns.append(dict(
            bboxes=np.array([o.hbox() for o in keep],
                            np.float32).reshape(-1, 4),
            labels=np.array([classes.index(o.category) for o in keep],
                            np.int64),
            bboxes_ignore=np.array([o.hbox() for o in hard],
                                   np.float32).reshape(-1, 4),
            labels_ignore=np.array([classes.index(o.category) for o in hard],
                                   np.int64)))
    mean_ap, per_class = eval_map(dets, anns, iou_thr=iou_thr,
                                  dataset=list(classes), logger='silent')
    return mean_ap, per_class


def is_oriented(patches):
    """True when the patch predictions are oriented boxes (5 numbers)."""
    return bool(patches) and np.asarray(patches[0][1]).shape[-1] == 5


def merge_and_score(patches, args, classes):
    """Merge, write the submission files and, with ``--ann-dir``, print the
    official mAP (Task1 for oriented boxes, else Task2 and the secondary
    area-mode mAP); returns the official mAP (0-1) or None."""
    oriented = is_oriented(patches)
    task, merge, write, evaluate, default_thr = (
        ('Task1', merge_task1_patches, write_task1_files, evaluate_task1, 0.1)
        if oriented else ('Task2', merge_patch_detections, write_task2_files,
                          evaluate_task2, 0.5))
    iou_thr = default_thr if args.iou_thr is None else args.iou_thr
    merged = merge(patches, iou_thr, allow_full_images=True)
    write(args.out_dir, merged, classes)
    print(f'merged {len(merged)} images -> {args.out_dir} ({task} files)')
    if not args.ann_dir:
        return None
    mean_ap, _ = evaluate(merged, args.ann_dir, classes)
    rules = 'polygon IoU, ' if oriented else ''
    print(f'DOTA {task} mAP on full images (official: DOTA devkit rules, '
          f'{rules}VOC07 11-point): {mean_ap * 100:.2f}')
    if not oriented:
        area_ap, _ = evaluate_area_mode(merged, args.ann_dir, classes)
        print(f'secondary, mmdet VOC area-mode mAP@0.5 (not the DOTA '
              f'protocol): {area_ap * 100:.2f}')
    return mean_ap


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument('results', help='.pkl from tools/test.py --out')
    parser.add_argument('out_dir')
    parser.add_argument('--iou-thr', type=float, default=None,
                        help='NMS IoU threshold of the merge (default 0.5, '
                        'oriented boxes 0.1)')
    parser.add_argument('--ann-dir', help='labelTxt of the full images')
    parser.add_argument('--classes', nargs='+', default=list(DOTA_V1_CLASSES))
    args = parser.parse_args(argv)
    return merge_and_score(load_patch_results(args.results), args,
                           tuple(args.classes))

if __name__ == '__main__':
    main()
