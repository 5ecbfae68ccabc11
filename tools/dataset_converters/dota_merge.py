# Copyright (c) mmrskd authors.
"""Map patch detections back to the full images (class-wise NMS).

    python tools/test.py CONFIG CKPT --out patches.pkl
    python tools/dataset_converters/dota_merge.py patches.pkl merged/ \
        --ann-dir data/DOTA/val/labelTxt

reads the predictions that ``tools/test.py --out`` dumps for a patch set
(``dota_split.py`` names), writes DOTA Task2 files ``Task2_<class>.txt``
(``<image> <score> x1 y1 x2 y2``) to OUT_DIR and, with ``--ann-dir``,
prints the VOC-style mAP@0.5 on the full images (difficult objects
ignored).
"""
import argparse
import glob
import os
import os.path as osp
import pickle
import sys

import numpy as np

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from mmrskd.apis.dota_patches import merge_patch_detections  # noqa: E402
from mmrskd.datasets.dota_labels import (DOTA_V1_CLASSES,  # noqa: E402
                                         parse_dota_file)


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


def evaluate(merged, ann_dir, classes, iou_thr=0.5):
    """VOC-style mAP (area) of merged detections against labelTxt files."""
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
                                    args.iou_thr)
    os.makedirs(args.out_dir, exist_ok=True)
    for c, name in enumerate(args.classes):
        with open(osp.join(args.out_dir, f'Task2_{name}.txt'), 'w') as f:
            for stem, (boxes, scores, labels) in sorted(merged.items()):
                for b, s in zip(boxes[labels == c], scores[labels == c]):
                    f.write(f'{stem} {s:.4f} ' +
                            ' '.join(f'{v:.1f}' for v in b) + '\n')
    print(f'merged {len(merged)} images -> {args.out_dir}')
    if args.ann_dir:
        mean_ap, _ = evaluate(merged, args.ann_dir, tuple(args.classes))
        print(f'mAP@{0.5:g} on full images: {mean_ap * 100:.2f}')
        return mean_ap


if __name__ == '__main__':
    main()
