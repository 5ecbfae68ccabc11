# Copyright (c) mmrskd authors.
"""Map patch detections back to the full images (class-wise NMS).

    python tools/test.py CONFIG CKPT --out patches.pkl
    python tools/dataset_converters/dota_merge.py patches.pkl merged/ \
        --ann-dir data/DOTA/val/labelTxt

reads the predictions that ``tools/test.py --out`` dumps for a patch set
(``dota_split.py`` names; other names are taken as full images), writes the
DOTA Task2 submission files ``Task2_<class>.txt``
(``<image> <score> x1 y1 x2 y2``) to OUT_DIR and, with ``--ann-dir``,
prints the official DOTA Task2 mAP of the full images (the DOTA devkit's
rules, VOC07 11-point AP: the number ``DOTATask2Metric`` gives in
``tools/test.py``) and, as a secondary number, mmdet's VOC area-mode
mAP@0.5 of the same detections (not the DOTA protocol).
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
from mmrskd.evaluation import (evaluate_task2,  # noqa: E402
                               merge_patch_detections, write_task2_files)


def _np(x):
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


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument('results', help='.pkl from tools/test.py --out')
    parser.add_argument('out_dir')
    parser.add_argument('--iou-thr', type=float, default=0.5,
                        help='NMS IoU threshold of the merge')
    parser.add_argument('--ann-dir', help='labelTxt of the full images')
    parser.add_argument('--classes', nargs='+', default=list(DOTA_V1_CLASSES))
    args = parser.parse_args(argv)
    merged = merge_patch_detections(load_patch_results(args.results),
                                    args.iou_thr, allow_full_images=True)
    classes = tuple(args.classes)
    write_task2_files(args.out_dir, merged, classes)
    print(f'merged {len(merged)} images -> {args.out_dir}')
    if args.ann_dir:
        mean_ap, _ = evaluate_task2(merged, args.ann_dir, classes)
        area_ap, _ = evaluate_area_mode(merged, args.ann_dir, classes)
        print(f'DOTA Task2 mAP on full images (official: DOTA devkit rules, '
              f'VOC07 11-point): {mean_ap * 100:.2f}')
        print(f'secondary, mmdet VOC area-mode mAP@0.5 (not the DOTA '
              f'protocol): {area_ap * 100:.2f}')
        return mean_ap


if __name__ == '__main__':
    main()
