"""DOTA Task1 (oriented boxes) evaluation against the DOTA devkit's rules.

``devkit_map`` below is a reference written from ``dota_evaluation_task1.py``
of https://github.com/CAPTAIN-WHU/DOTA_devkit in plain loops: it reads the
labelTxt files (``parse_gt``: the 8 numbers as floats) and the
``Task1_<class>.txt`` result files as the devkit does, keeps the objects
whose bounding box overlaps the detection's (+1 pixel IoU above 0) and
takes their polygon IoU. Its IoU is computed another way than the
product's: Sutherland-Hodgman clipping of the ground-truth polygon by the
detection's rectangle (convex), in plain Python; the product sums signed
triangle intersections as the devkit's polyiou.cpp does. The generated
ground truth has rotated rectangles, general quadrilaterals and non-convex
ones ("darts").
"""
import importlib
import io
import math
import os
import os.path as osp
import pickle
import sys
from contextlib import redirect_stdout

import numpy as np
import pytest
import torch

import mmrskd  # noqa: F401  (registers DOTATask1Metric)
from mmrskd.apis.dota_patches import window_starts
from mmrskd.datasets.dota_labels import DOTA_V1_CLASSES
from mmrskd.evaluation import (AnnotationDirError, DOTATask1Metric,
                               evaluate_task1, merge_rotated_patch_detections,
                               poly_iou, rbox_to_poly, write_task1_files)
from mmrskd.evaluation.dota_task1 import task1_overlaps
from tools.dataset_converters import dota_merge

#: 4 classes with objects, 'bridge' never detected, 'helicopter' never
#: annotated (the devkit scores both 0 and divides by all its classes)
CLASSES = ('plane', 'ship', 'small-vehicle', 'harbor', 'bridge', 'helicopter')
SIZES = [(300, 200), (250, 260), (180, 150), (320, 240)]


# ------------------------------------------------- devkit reference --- #
def shoelace(pts):
    return 0.5 * sum(pts[i - 1][0] * p[1] - p[0] * pts[i - 1][1]
                     for i, p in enumerate(pts))


def clip_area(subject, clip):
    """Area of ``subject`` (any simple polygon) inside the convex ``clip``,
    Sutherland-Hodgman (points as (x, y) lists)."""
    if shoelace(clip) < 0:
        clip = clip[::-1]

    def left(p, a, b):
        return (b[0] - a[0]) * (p[1] - a[1]) - (b[1] - a[1]) * (p[0] - a[0])

    out = list(subject)
    for k in range(len(clip)):
        a, b = clip[k], clip[(k + 1) % len(clip)]
        inp, out = out, []
        for i, p in enumerate(inp):
            q = inp[i - 1]
            sp, sq = left(p, a, b), left(q, a, b)
            if (sp >= 0) != (sq >= 0):
                t = sq / (sq - sp)
                out.append((q[0] + t * (p[0] - q[0]),
                            q[1] + t * (p[1] - q[1])))
            if sp >= 0:
                out.append(p)
        if not out:
            return 0.
    return abs(shoelace(out))


def ref_iou(gt, det):
    """Polygon IoU of 8 numbers each; ``det`` convex."""
    g = list(zip(gt[0::2], gt[1::2]))
    d = list(zip(det[0::2], det[1::2]))
    inter = clip_area(g, d)
    return inter / (abs(shoelace(g)) + abs(shoelace(d)) - inter)


def read_gt(path, classname):
    """The devkit's parse_gt, one class: [(polygon, difficult, matched)]."""
    objs = []
    for line in open(path):
        sp = line.strip().split(' ')
        if len(sp) < 9 or sp[8] != classname:
            continue
        objs.append([[float(v) for v in sp[:8]],
                     int(sp[9]) if len(sp) == 10 else 0, False])
    return objs


def hbb_overlap(a, b):
    ax, ay, bx, by = a[0::2], a[1::2], b[0::2], b[1::2]
    iw = max(min(max(ax), max(bx)) - max(min(ax), min(bx)) + 1., 0.)
    ih = max(min(max(ay), max(by)) - max(min(ay), min(by)) + 1., 0.)
    inter = iw * ih
    return inter / ((max(ax) - min(ax) + 1.) * (max(ay) - min(ay) + 1.) +
                    (max(bx) - min(bx) + 1.) * (max(by) - min(by) + 1.) -
                    inter)


def class_ap(det_file, gt_dir, imagenames, classname, ovthresh=0.5):
    recs = {n: read_gt(osp.join(gt_dir, n + '.txt'), classname)
            for n in imagenames}
    npos = sum(1 for objs in recs.values() for o in objs if not o[1])
    dets = []
    for line in open(det_file):
        sp = line.strip().split(' ')
        dets.append((float(sp[1]), sp[0], [float(v) for v in sp[2:]]))
    dets.sort(key=lambda d: -d[0])
    ctp = cfp = 0.
    rec, prec = [], []
    for _, name, bb in dets:
        ovmax, jmax = -math.inf, None
        for j, obj in enumerate(recs[name]):
            if hbb_overlap(obj[0], bb) > 0:
                ov = ref_iou(obj[0], bb)
                if ov > ovmax:
                    ovmax, jmax = ov, j
        if ovmax > ovthresh:
            obj = recs[name][jmax]
            if not obj[1]:
                if obj[2]:
                    cfp += 1
                else:
                    ctp, obj[2] = ctp + 1, True
        else:
            cfp += 1
        rec.append(ctp / npos if npos else math.nan)
        prec.append(ctp / max(ctp + cfp, np.finfo(np.float64).eps))
    ap = 0.
    for t in np.arange(0., 1.1, 0.1):
        ps = [p for r, p in zip(rec, prec) if r >= t]
        ap += (max(ps) if ps else 0) / 11.
    return ap


def devkit_map(det_dir, gt_dir, imagenames, classnames=CLASSES):
    """mAP and APs by dota_evaluation_task1.py's voc_eval(use_07_metric)."""
    aps = [class_ap(osp.join(det_dir, f'Task1_{c}.txt'), gt_dir, imagenames,
                    c) for c in classnames]
    return sum(aps) / len(aps), aps


# ------------------------------------------------------------ data --- #
def corners(rbox):
    """The 4 corners (8 numbers) of ``(cx, cy, w, h, angle)``: the box's
    local corners rotated by the angle."""
    cx, cy, w, h, a = (float(v) for v in rbox)
    rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    local = np.array([[w, h], [w, -h], [-w, -h], [-w, h]]) / 2
    return (local @ rot.T + [cx, cy]).reshape(-1)


def write_gt(folder, objects):
    """``objects``: image -> [(polygon, class, difficult)]; labelTxt files
    with their header lines."""
    os.makedirs(folder)
    for name, objs in objects.items():
        with open(osp.join(folder, name + '.txt'), 'w') as f:
            f.write('imagesource:GoogleEarth\ngsd:0.5\n')
            for poly, cls, diff in objs:
                f.write(' '.join(f'{v:g}' for v in poly) + f' {cls} {diff}\n')


def write_dets(folder, dets, classes=CLASSES):
    """Task1 result files written by the test itself (polygons)."""
    os.makedirs(folder)
    for c, cls in enumerate(classes):
        with open(osp.join(folder, f'Task1_{cls}.txt'), 'w') as f:
            for name, (polys, scores, labels) in sorted(dets.items()):
                for p, s in zip(polys[labels == c], scores[labels == c]):
                    f.write(f'{name} {float(s)!r} ' +
                            ' '.join(repr(float(v)) for v in p) + '\n')


def _gt_polygon(rng, rbox):
    """The ground truth of an object: its rectangle in 0.1 px, or a
    general quadrilateral, or a non-convex one (a corner pulled in past
    the diagonal)."""
    poly = corners(rbox).reshape(4, 2)
    kind = rng.rand()
    if kind < 0.2:
        poly = poly + rng.uniform(-2, 2, (4, 2))
    elif kind < 0.35:
        centre = poly.mean(0)
        poly[2] = centre + 0.3 * (poly[0] - centre)
    return np.round(poly.reshape(-1), 1)


def _rbox(rng, w, h, size=(10, 36)):
    bw, bh = rng.randint(*size, 2) + rng.randint(0, 4, 2) * 0.25
    r = math.hypot(bw, bh) / 2 + 1
    cx, cy = rng.uniform(r, w - r), rng.uniform(r, h - r)
    a = float(np.float32(rng.uniform(-math.pi / 2, math.pi / 2)))
    return np.array([round(cx * 4) / 4, round(cy * 4) / 4, bw, bh, a])


def _apart(a, b, margin=20):
    """Boxes far enough apart that their detections never overlap."""
    return math.dist(a[:2], b[:2]) > (math.hypot(*a[2:4]) +
                                      math.hypot(*b[2:4])) / 2 + margin


def _detect(rng, rbox):
    """A detection of ``rbox``: close, or loose (maybe no hit)."""
    step = 1. if rng.rand() < 0.7 else 5.
    det = rbox + np.r_[rng.randint(-4, 5, 4) * 0.25 * step,
                       rng.normal(0, 0.03 * step)]
    det[2:4] = np.maximum(det[2:4], 4)
    det[4] = float(np.float32(det[4]))
    return det


def scene(seed, sizes, duplicates=True):
    """Ground truth (polygons) and full-image detections (oriented boxes)
    of several images: objects of 4 classes (some difficult, 'bridge' never
    detected), each detected (maybe loosely, maybe twice when
    ``duplicates``) or missed, false positives, and an image without
    detections (the second)."""
    rng = np.random.RandomState(seed)
    objects, dets = {}, {}
    for i, (w, h) in enumerate(sizes):
        name = f'P{seed:02d}{i:02d}'
        objs, placed, boxes, labels = [], [], [], []
        for _ in range(40):
            rbox, c = _rbox(rng, w, h), rng.choice([0, 1, 2, 3, 4])
            if len(objs) == 7 or not all(_apart(rbox, o) for o in placed):
                continue
            placed.append(rbox)
            objs.append((_gt_polygon(rng, rbox), CLASSES[c],
                         int(rng.rand() < 0.2)))
            if c == 4 or rng.rand() < 0.15:
                continue  # missed
            boxes.append(_detect(rng, rbox))
            labels.append(c)
            if duplicates and rng.rand() < 0.2:
                boxes.append(_detect(rng, rbox))
                labels.append(c)
        for _ in range(rng.randint(1, 4)):  # false positives
            rbox = _rbox(rng, w, h)
            if all(_apart(rbox, b) for b in placed):
                placed.append(rbox)
                boxes.append(rbox)
                labels.append(rng.randint(0, 4))
        objects[name] = objs
        if i == 1:
            boxes, labels = [], []
        scores = rng.permutation(1000)[:len(boxes)] / 1000 + 0.0005
        dets[name] = (np.array(boxes, np.float32).reshape(-1, 5),
                      scores.astype(np.float32), np.array(labels, np.int64))
    return objects, dets


def as_polygons(dets, convert=None):
    """Detections with the corner polygons of their boxes (the test's own
    conversion unless ``convert``)."""
    convert = convert or (lambda b: np.array([corners(r) for r in b])
                          .reshape(-1, 8))
    return {n: (convert(b), s, lab) for n, (b, s, lab) in dets.items()}


# ----------------------------------------------------------- tests --- #
def test_polygon_iou_equals_clipping():
    rng = np.random.RandomState(0)
    boxes = np.array([_rbox(rng, 60, 60) for _ in range(300)])
    gts = np.array([_gt_polygon(rng, b) for b in boxes])
    dets = np.array([corners(_detect(rng, b)) for b in boxes])
    mine = poly_iou(gts, dets)
    ref = [ref_iou(g, d) for g, d in zip(gts, dets)]
    assert mine == pytest.approx(ref, abs=1e-9)
    assert 0.05 < np.mean(mine) < 0.95
    # symmetric, orientation-free, exact on known cases, no +1 pixel
    assert poly_iou(dets, gts) == pytest.approx(mine, abs=1e-9)
    square = np.array([[0., 0, 10, 0, 10, 10, 0, 10]])
    clockwise = square.reshape(4, 2)[::-1].reshape(1, 8)
    half = np.array([[0., 0, 10, 0, 10, 5, 0, 5]])
    assert poly_iou(square, clockwise)[0] == 1
    assert poly_iou(square, half)[0] == 0.5
    assert poly_iou(square, square + 20)[0] == 0
    dart = np.array([[0., 0, 10, 5, 0, 10, 3, 5]])  # area 50 - 15
    assert poly_iou(dart, square)[0] == pytest.approx(0.35)


def test_candidates_by_the_horizontal_prefilter():
    gt = np.array([[0., 0, 10, 0, 10, 10, 0, 10],
                   [10.5, 0, 20, 0, 20, 10, 10.5, 10],
                   [40., 0, 50, 0, 50, 10, 40, 10]])
    det = np.array([[10.6, 0, 20, 0, 20, 10, 10.6, 10]])
    overlaps = task1_overlaps(det, gt)
    # the first box ends 0.6 px left of the detection: +1 pixel IoU above
    # 0, a candidate of polygon IoU 0; the third is no candidate
    assert overlaps[0, 0] == 0 and overlaps[0, 2] == -np.inf
    assert overlaps[0, 1] == pytest.approx(94 / 95)
    assert task1_overlaps(det, np.zeros((0, 8))).shape == (1, 0)


@pytest.mark.parametrize('seed', range(5))
def test_map_equals_the_devkit_reference(seed, tmp_path):
    objects, dets = scene(seed, SIZES)
    polys = as_polygons(dets)
    write_gt(str(tmp_path / 'gt'), objects)
    write_dets(str(tmp_path / 'dets'), polys)
    ref, ref_aps = devkit_map(str(tmp_path / 'dets'), str(tmp_path / 'gt'),
                              sorted(objects))
    mean_ap, per_class = evaluate_task1(polys, str(tmp_path / 'gt'), CLASSES)
    assert mean_ap == pytest.approx(ref, abs=1e-12)
    assert list(per_class.values()) == pytest.approx(ref_aps, abs=1e-12)
    assert per_class['bridge'] == per_class['helicopter'] == 0
    assert 0 < mean_ap < 1
    # the product's Task1 files give the reference the same number
    write_task1_files(str(tmp_path / 'mine'), polys, CLASSES)
    assert devkit_map(str(tmp_path / 'mine'), str(tmp_path / 'gt'),
                      sorted(objects))[0] == pytest.approx(ref, abs=1e-12)


def _one_image(tmp_path, gt_lines, polys, scores):
    """One image's ship labels and detections (class 0 of ('ship', ))."""
    ann = tmp_path / 'ann'
    ann.mkdir()
    (ann / 'P1.txt').write_text(''.join(gt_lines))
    dets = {'P1': (np.array(polys, np.float64).reshape(-1, 8),
                   np.array(scores, np.float32),
                   np.zeros(len(polys), np.int64))}
    return dets, str(ann)


def test_rules_by_hand(tmp_path):
    diamond = '10 0 20 10 10 20 0 10'  # a square turned 45 degrees
    gt = [f'{diamond} ship 0\n', '50 50 70 50 70 70 50 70 ship 0\n',
          '100 100 120 100 120 120 100 120 ship 1\n']
    rect = [50, 50, 70, 50, 70, 70, 50, 70]
    # difficult hit (neither), diamond (TP), diamond again (FP), its
    # half exactly (IoU 0.5, not above: FP), rect (TP):
    # recall 0 .5 .5 .5 1, precision 0 1 .5 1/3 1/2
    dets, ann = _one_image(tmp_path, gt, [
        [100, 100, 120, 100, 120, 120, 100, 120],
        [10, 0, 20, 10, 10, 20, 0, 10], [10, 0, 20, 10, 10, 20, 0, 10],
        [10, 0, 20, 10, 15, 15, 5, 5], rect], [.95, .9, .8, .75, .7])
    assert evaluate_task1(dets, ann, ('ship', ))[0] == \
        pytest.approx((6 * 1 + 5 * 0.5) / 11)
    # no +1 pixel and no truncation: a 9.9 x 9.9 ground truth
    other = tmp_path / 'other'
    other.mkdir()
    dets, ann = _one_image(other, ['0 0 9.9 0 9.9 9.9 0 9.9 ship 0\n'],
                           [[0, 0, 9.9, 0, 9.9, 4.95, 0, 4.95]], [.9])
    assert evaluate_task1(dets, ann, ('ship', ))[0] == 0  # IoU exactly .5
    dets['P1'][0][0, 5::2] = 5.
    assert evaluate_task1(dets, ann, ('ship', ))[0] == pytest.approx(1)


def test_rbox_corners_and_mmrotates_order():
    rboxes = np.array([[50., 40., 30., 12., 0.3], [10, 20, 8, 4, -1.2]],
                      np.float32)
    polys = rbox_to_poly(rboxes)
    assert polys.dtype == np.float32
    assert polys == pytest.approx(np.array([corners(r) for r in rboxes]),
                                  abs=1e-4)
    mmrotate = pytest.importorskip('mmrotate.structures.bbox')
    assert polys == pytest.approx(
        mmrotate.rbox2qbox(torch.from_numpy(rboxes)).numpy(), abs=1e-4)


def test_task1_files_round_trip(tmp_path):
    polys = np.array([[1.5, 2, 30.25, 2, 30.25, 40, 1.5, 40],
                      [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]], np.float32)
    dets = {'P2': (polys, np.array([0.1, 0.7], np.float32),
                   np.array([1, 1]))}
    paths = write_task1_files(str(tmp_path), dets, ('plane', 'ship'))
    assert [osp.basename(p) for p in paths] == ['Task1_plane.txt',
                                                'Task1_ship.txt']
    assert open(paths[0]).read() == ''
    lines = open(paths[1]).read().splitlines()
    assert lines[0] == 'P2 0.1 1.5 2 30.25 2 30.25 40 1.5 40'
    back = np.array([[float(v) for v in line.split()[1:]] for line in lines],
                    np.float32)
    assert np.array_equal(back[:, 0], dets['P2'][1])
    assert np.array_equal(back[:, 1:], polys)


def test_rotated_merge_maps_back_and_suppresses_duplicates():
    box = np.array([[14., 50., 20., 8., 0.4]], np.float32)  # ship at x 110
    merged = merge_rotated_patch_detections([
        ('P1__1__96___0', box, np.array([0.9]), np.array([6])),
        ('P1__1__0___0', box + [96, 0, 0, 0, 0], np.array([0.8]),
         np.array([6])),
        ('P1__0.5__0___0', box * [.5, .5, .5, .5, 1] + [48, 0, 0, 0, 0],
         np.array([0.7]), np.array([1])),
        ('P1__1__0___64', box + [100, -64, 2, 0, 0.1], np.array([0.6]),
         np.array([6])),  # overlaps the ship by more than 0.1: suppressed
        ('P2', box, np.array([0.5]), np.array([6])),
    ], allow_full_images=True)
    boxes, scores, labels = merged['P1']
    order = np.argsort(-scores)
    assert np.allclose(boxes[order], [[110, 50, 20, 8, 0.4]] * 2)
    assert list(labels[order]) == [6, 1]
    assert scores[order] == pytest.approx([0.9, 0.7])
    assert np.allclose(merged['P2'][0], box)


# ---------------------------------------------- the metric, end to end --- #
def patch_samples(dets, sizes, size=128, gap=80):
    """Data samples of the test loop on dota_split.py patches (rates 1 and,
    for the first image, 0.5): each full-image box lying inside a patch is
    predicted there, in patch pixels (the overlap is wider than any box, so
    every one lies inside a patch, most inside several)."""
    samples = []
    for (name, (boxes, scores, labels)), (w, h) in zip(sorted(dets.items()),
                                                        sizes):
        for rate in ((1.0, 0.5) if name.endswith('00') else (1.0, )):
            scaled = boxes * np.float32([rate, rate, rate, rate, 1])
            ext = rbox_to_poly(scaled).reshape(-1, 4, 2)
            for y0 in window_starts(int(h * rate), size, gap):
                for x0 in window_starts(int(w * rate), size, gap):
                    inside = ((ext >= [x0, y0]) &
                              (ext <= [x0 + size, y0 + size])).all((1, 2))
                    b = scaled[inside] - np.float32([x0, y0, 0, 0, 0])
                    samples.append(dict(
                        img_path=f'/data/val/images/{name}__{rate:g}__{x0}'
                        f'___{y0}.png',
                        pred_instances=dict(
                            bboxes=torch.from_numpy(b),
                            scores=torch.from_numpy(scores[inside]),
                            labels=torch.from_numpy(labels[inside]))))
    return samples


def _patch_scene(tmp_path):
    """Images of two seeds without duplicate detections (the merge's NMS
    would take them), their labelTxt folder and test-loop samples."""
    objects, dets = {}, {}
    for seed in (1, 2):
        o, d = scene(seed, SIZES[:3], duplicates=False)
        objects.update(o)
        dets.update(d)
    sizes = [SIZES[int(n[-2:])] for n in sorted(dets)]
    write_gt(str(tmp_path / 'gt'), objects)
    return objects, dets, patch_samples(dets, sizes)


def test_metric_on_patches_equals_the_reference_and_dota_merge(tmp_path):
    from mmengine.evaluator import Evaluator
    objects, dets, samples = _patch_scene(tmp_path)
    gt = str(tmp_path / 'gt')
    write_dets(str(tmp_path / 'dets'), as_polygons(dets, rbox_to_poly))
    ref, _ = devkit_map(str(tmp_path / 'dets'), gt, sorted(objects))
    assert len(samples) > 3 * len(dets) and 0 < ref < 1
    evaluator = Evaluator(dict(type='mmdet.DOTATask1Metric', ann_dir=gt,
                               classwise=True,
                               task1_dir=str(tmp_path / 'task1')))
    evaluator.dataset_meta = dict(classes=CLASSES)
    for i in range(0, len(samples), 4):
        evaluator.process(samples[i:i + 4])
    res = evaluator.evaluate(len(samples))
    assert res['dota/mAP'] == pytest.approx(ref, abs=1e-12)
    assert res['dota/helicopter_AP'] == 0
    assert devkit_map(str(tmp_path / 'task1'), gt,
                      sorted(objects))[0] == pytest.approx(ref, abs=1e-12)
    # tools/test.py --out predictions -> dota_merge.py: the same number
    pkl = tmp_path / 'patches.pkl'
    with open(pkl, 'wb') as f:
        pickle.dump(samples, f)
    out = io.StringIO()
    with redirect_stdout(out):
        merged_map = dota_merge.main([str(pkl), str(tmp_path / 'merged'),
                                      '--ann-dir', gt, '--classes', *CLASSES])
    assert merged_map == res['dota/mAP']
    assert f'VOC07 11-point): {ref * 100:.2f}' in out.getvalue()
    assert sorted(os.listdir(tmp_path / 'merged')) == sorted(
        os.listdir(tmp_path / 'task1'))


def test_metric_format_only_and_errors(tmp_path):
    _, dets, samples = _patch_scene(tmp_path)
    only = DOTATask1Metric(format_only=True, task1_dir=str(tmp_path / 't1'))
    only.dataset_meta = dict(classes=DOTA_V1_CLASSES)
    only.process({}, samples)
    assert only.evaluate(len(samples)) == {}
    assert len(os.listdir(tmp_path / 't1')) == 15
    with pytest.raises(ValueError, match='format_only=True needs task1_dir'):
        DOTATask1Metric(format_only=True)
    with pytest.raises(AnnotationDirError, match=r'DOTA Task1: ann_dir '
                       r'"missing/" does not exist.*DOTATask1Metric'):
        DOTATask1Metric(ann_dir='missing/')
    with pytest.raises(AnnotationDirError, match=r'DOTA Task1: no labelTxt '
                       r'file ".*P0100.txt" for the evaluated image'):
        evaluate_task1(as_polygons(dets), str(tmp_path), CLASSES)


def test_metric_needs_no_mmrotate(tmp_path, monkeypatch):
    """Without the extra "rotated" the module imports and the metric scores
    oriented boxes (they are plain tensors then)."""
    monkeypatch.setitem(sys.modules, 'mmrotate', None)
    monkeypatch.delitem(sys.modules, 'mmrskd.evaluation.dota_task1')
    task1 = importlib.import_module('mmrskd.evaluation.dota_task1')
    objects, dets = scene(3, SIZES[:2], duplicates=False)
    write_gt(str(tmp_path / 'gt'), objects)
    samples = [dict(img_path=f'/data/{n}.png', pred_instances=dict(
        bboxes=torch.from_numpy(b), scores=torch.from_numpy(s),
        labels=torch.from_numpy(lab))) for n, (b, s, lab) in dets.items()]
    metric = DOTATask1Metric(ann_dir=str(tmp_path / 'gt'), prefix='task1')
    metric.dataset_meta = dict(classes=CLASSES)
    metric.process({}, samples)  # names that are not patch names
    expected = task1.evaluate_task1(task1.merge_task1_patches(
        [(n, b, s, lab) for n, (b, s, lab) in dets.items()]),
        str(tmp_path / 'gt'), CLASSES)[0]
    assert metric.evaluate(len(samples)) == {'task1/mAP': expected}
    assert 0 < expected < 1


def test_rotated_config_tests_with_the_metric(tmp_path):
    """The rotated config's test evaluator, built in its mmrotate scope:
    DOTATask1Metric then the patch-level DOTAMetric; the first scores
    mmrotate's RotatedBoxes."""
    pytest.importorskip('mmrotate', reason='needs the extra "rotated"')
    from mmengine.config import Config
    from mmengine.evaluator import Evaluator
    from mmengine.registry import DefaultScope
    from mmrotate.structures.bbox import RotatedBoxes
    root = osp.dirname(osp.dirname(osp.abspath(__file__)))
    cfg = Config.fromfile(
        osp.join(root, 'configs/rotated/retinanet_r50_fpn_le90_dota.py'))
    objects, dets = scene(4, SIZES[:2], duplicates=False)
    write_gt(str(tmp_path / 'gt'), objects)
    cfg.test_evaluator[0].ann_dir = str(tmp_path / 'gt')
    with DefaultScope.overwrite_default_scope('mmrotate'):
        evaluator = Evaluator(cfg.test_evaluator)
    task1, patches = evaluator.metrics
    assert type(task1) is DOTATask1Metric and task1.prefix == 'dota'
    assert type(patches).__name__ == 'DOTAMetric'
    assert patches.prefix == 'patch_dota'
    task1.dataset_meta = dict(classes=CLASSES)
    task1.process({}, [dict(img_path=f'{n}__1__0___0.png', pred_instances=dict(
        bboxes=RotatedBoxes(torch.from_numpy(b)), scores=torch.from_numpy(s),
        labels=torch.from_numpy(lab))) for n, (b, s, lab) in dets.items()])
    polys = as_polygons(dets, rbox_to_poly)
    assert task1.evaluate(len(dets)) == {'dota/mAP': evaluate_task1(
        polys, str(tmp_path / 'gt'), CLASSES)[0]}


def test_log_names_the_classes_without_ground_truth(tmp_path, monkeypatch):
    """On a subset of DOTA the devkit's mean over every class reads low:
    the metric logs which classes have no object that counts in the
    evaluated images, and the mean AP over the others."""
    from mmengine.logging import MMLogger
    objects, dets = scene(5, SIZES[:3], duplicates=False)
    write_gt(str(tmp_path / 'gt'), objects)
    counted = {cls for objs in objects.values() for _, cls, diff in objs
               if not int(diff)}
    absent = [name for name in CLASSES if name not in counted]
    assert absent == ['helicopter']  # the scene never places it
    lines = []
    monkeypatch.setattr(MMLogger.get_current_instance(), 'info',
                        lines.append)
    metric = DOTATask1Metric(ann_dir=str(tmp_path / 'gt'), classwise=True)
    metric.dataset_meta = dict(classes=CLASSES)
    metric.process({}, [dict(img_path=f'{n}__1__0___0.png', pred_instances=dict(
        bboxes=torch.from_numpy(b), scores=torch.from_numpy(s),
        labels=torch.from_numpy(lab))) for n, (b, s, lab) in dets.items()])
    out = metric.evaluate(len(dets))
    note = [line for line in lines if 'no object that counts' in line]
    assert len(note) == 1
    assert f'{len(absent)} of {len(CLASSES)} classes' in note[0]
    assert note[0].split('devkit: ')[1].split('. ')[0] == 'helicopter'
    present = [out[f'dota/{name}_AP'] for name in CLASSES
               if name not in absent]
    assert f'is {sum(present) / len(present) * 100:.2f}.' in note[0]
    # every class present: no such line
    lines.clear()
    metric.dataset_meta = dict(classes=CLASSES[:-1])
    metric.process({}, [dict(img_path=f'{n}__1__0___0.png', pred_instances=dict(
        bboxes=torch.from_numpy(b[lab < 5]), scores=torch.from_numpy(s[lab < 5]),
        labels=torch.from_numpy(lab[lab < 5])))
        for n, (b, s, lab) in dets.items()])
    assert metric.evaluate(len(dets))['dota/mAP'] > 0
    assert any('AP (devkit rules' in line for line in lines)
    assert not [line for line in lines if 'no object that counts' in line]
