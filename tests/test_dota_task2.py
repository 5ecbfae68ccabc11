"""DOTA Task2 evaluation against the DOTA devkit's rules.

``devkit_map`` below is a reference written from ``dota_evaluation_task2.py``
of https://github.com/CAPTAIN-WHU/DOTA_devkit in plain loops: it reads the
Task2 ground truth files (``x1 y1 x2 y1 x2 y2 x1 y2 class difficult``,
``parse_gt`` takes the 1st and 3rd point) and the ``Task2_<class>.txt``
result files, as the devkit does. The product reads oriented labelTxt files
(the box is the polygon's extent), so the generated ground truth is written
both ways.
"""
import io
import math
import os
import os.path as osp
import pickle
from contextlib import redirect_stdout

import numpy as np
import pytest
import torch

import mmrskd  # noqa: F401  (registers DOTATask2Metric)
from mmrskd.apis.dota_patches import window_starts
from mmrskd.datasets.dota_labels import DOTA_V1_CLASSES
from mmrskd.evaluation import (AnnotationDirError, DOTATask2Metric,
                               evaluate_task2, voc07_ap, write_task2_files)
from mmrskd.evaluation.dota_task2 import task2_overlaps
from tools.dataset_converters import dota_merge

#: 4 classes with objects, 'bridge' never detected, 'helicopter' never
#: annotated (the devkit scores both 0 and divides by all its classes)
CLASSES = ('plane', 'ship', 'small-vehicle', 'harbor', 'bridge', 'helicopter')


# ------------------------------------------------- devkit reference --- #
def devkit_map(det_dir, gt_dir, imagenames, classnames, ovthresh=0.5):
    """mAP and APs by dota_evaluation_task2.py's voc_eval(use_07_metric=True)
    (an empty result file, where the devkit fails, scores 0)."""
    aps = []
    for classname in classnames:
        recs, npos = {}, 0
        for name in imagenames:
            recs[name] = []
            for line in open(osp.join(gt_dir, name + '.txt')):
                sp = line.strip().split(' ')
                if sp[8] != classname:
                    continue
                difficult = int(sp[9]) if len(sp) == 10 else 0
                bbox = [int(float(sp[0])), int(float(sp[1])),
                        int(float(sp[4])), int(float(sp[5]))]
                recs[name].append([bbox, difficult, False])
                npos += 0 if difficult else 1
        dets = []
        for line in open(osp.join(det_dir, f'Task2_{classname}.txt')):
            sp = line.strip().split(' ')
            dets.append((float(sp[1]), sp[0], [float(v) for v in sp[2:]]))
        dets.sort(key=lambda d: -d[0])
        tp, fp = [], []
        for _, name, bb in dets:
            ovmax, jmax = -math.inf, None
            for j, (g, _, _) in enumerate(recs[name]):
                iw = max(min(g[2], bb[2]) - max(g[0], bb[0]) + 1., 0.)
                ih = max(min(g[3], bb[3]) - max(g[1], bb[1]) + 1., 0.)
                inters = iw * ih
                uni = ((bb[2] - bb[0] + 1.) * (bb[3] - bb[1] + 1.) +
                       (g[2] - g[0] + 1.) * (g[3] - g[1] + 1.) - inters)
                if inters / uni > ovmax:
                    ovmax, jmax = inters / uni, j
            t = f = 0.
            if ovmax > ovthresh:
                obj = recs[name][jmax]
                if not obj[1]:
                    if not obj[2]:
                        t, obj[2] = 1., True
                    else:
                        f = 1.
            else:
                f = 1.
            tp.append(t)
            fp.append(f)
        rec, prec, ctp, cfp = [], [], 0., 0.
        for t, f in zip(tp, fp):
            ctp, cfp = ctp + t, cfp + f
            rec.append(ctp / float(npos) if npos else math.nan)
            prec.append(ctp / max(ctp + cfp, np.finfo(np.float64).eps))
        ap = 0.
        for t in np.arange(0., 1.1, 0.1):
            ps = [p for r, p in zip(rec, prec) if r >= t]
            ap = ap + (max(ps) if ps else 0) / 11.
        aps.append(ap)
    return sum(aps) / len(aps), aps


# ------------------------------------------------------------ data --- #
def write_gt(root, objects):
    """``objects``: image -> [(box, class, difficult)]. Writes ``root/rect``
    (Task2 ground truth) and ``root/obb`` (oriented labelTxt with header
    lines: a quadrilateral touching each side of the box, its 1st and 3rd
    points not the box's corners). Returns both folders."""
    rect, obb = osp.join(root, 'rect'), osp.join(root, 'obb')
    os.makedirs(rect)
    os.makedirs(obb)
    for name, objs in objects.items():
        with open(osp.join(rect, name + '.txt'), 'w') as r, \
                open(osp.join(obb, name + '.txt'), 'w') as o:
            o.write('imagesource:GoogleEarth\ngsd:0.5\n')
            for (x1, y1, x2, y2), cls, diff in objs:
                r.write(f'{x1} {y1} {x2} {y1} {x2} {y2} {x1} {y2} {cls} '
                        f'{diff}\n')
                q = (x1 + 3, y1, x2, y1 + 2, x2 - 4, y2, x1, y2 - 1)
                o.write(' '.join(map(str, q)) + f' {cls} {diff}\n')
    return rect, obb


def write_dets(folder, dets, classes=CLASSES):
    """Task2 result files written by the test itself."""
    os.makedirs(folder)
    for c, cls in enumerate(classes):
        with open(osp.join(folder, f'Task2_{cls}.txt'), 'w') as f:
            for name, (boxes, scores, labels) in sorted(dets.items()):
                for b, s in zip(boxes[labels == c], scores[labels == c]):
                    f.write(f'{name} {float(s)!r} ' +
                            ' '.join(repr(float(v)) for v in b) + '\n')


def _box(rng, w, h, size=(12, 40)):
    bw, bh = rng.randint(*size, 2) + rng.randint(0, 4, 2) * 0.25
    x, y = rng.uniform(0, w - bw), rng.uniform(0, h - bh)
    return [round(x * 4) / 4, round(y * 4) / 4, round((x + bw) * 4) / 4,
            round((y + bh) * 4) / 4]


def _apart(a, b, margin=20):
    """Boxes more than ``margin`` pixels apart (so their detections do not
    overlap and no NMS is involved between them)."""
    return (a[0] > b[2] + margin or b[0] > a[2] + margin or
            a[1] > b[3] + margin or b[1] > a[3] + margin)


def scene(seed, sizes, duplicates=True):
    """Ground truth and full-image detections of several images: objects
    of 4 classes (some difficult; 'bridge' objects never detected), each
    detected (maybe loosely, maybe twice when ``duplicates``) or missed,
    false positives, and an image without detections (the second)."""
    rng = np.random.RandomState(seed)
    objects, dets = {}, {}
    for i, (w, h) in enumerate(sizes):
        name = f'P{seed:02d}{i:02d}'
        objs, boxes, labels = [], [], []
        for _ in range(40):
            box, c = _box(rng, w, h), rng.choice([0, 1, 2, 3, 4])
            if len(objs) == 7 or not all(_apart(box, o[0]) for o in objs):
                continue
            objs.append((box, CLASSES[c], int(rng.rand() < 0.2)))
            if c == 4 or rng.rand() < 0.15:
                continue  # missed
            step = 0.25 if rng.rand() < 0.7 else 1.5  # loose: maybe no hit
            boxes.append(np.array(box) + rng.randint(-12, 13, 4) * step)
            labels.append(c)
            if duplicates and rng.rand() < 0.2:
                boxes.append(np.array(box) + rng.randint(-4, 5, 4) * 0.25)
                labels.append(c)
        for _ in range(rng.randint(1, 4)):  # false positives
            box = _box(rng, w, h)
            if all(_apart(box, b) for b in boxes):
                boxes.append(np.array(box))
                labels.append(rng.randint(0, 4))
        objects[name] = objs
        if i == 1:
            boxes, labels = [], []
        boxes = np.clip(np.array(boxes, np.float32).reshape(-1, 4), 0,
                        [w, h, w, h])
        scores = rng.permutation(1000)[:len(boxes)] / 1000 + 0.0005
        dets[name] = (boxes, scores.astype(np.float32),
                      np.array(labels, np.int64))
    return objects, dets


SIZES = [(300, 200), (250, 260), (180, 150), (320, 240)]


# ----------------------------------------------------------- tests --- #
@pytest.mark.parametrize('seed', range(6))
def test_map_equals_the_devkit_reference(seed, tmp_path):
    objects, dets = scene(seed, SIZES)
    rect, obb = write_gt(str(tmp_path), objects)
    write_dets(str(tmp_path / 'dets'), dets)
    ref, ref_aps = devkit_map(str(tmp_path / 'dets'), rect, sorted(objects),
                              CLASSES)
    for ann_dir in (obb, rect):
        mean_ap, per_class = evaluate_task2(dets, ann_dir, CLASSES)
        assert mean_ap == pytest.approx(ref, abs=1e-12)
        assert list(per_class.values()) == pytest.approx(ref_aps, abs=1e-12)
    assert per_class['bridge'] == per_class['helicopter'] == 0
    assert 0 < mean_ap < 1
    # the product's Task2 files give the reference the same number
    write_task2_files(str(tmp_path / 'mine'), dets, CLASSES)
    assert devkit_map(str(tmp_path / 'mine'), rect, sorted(objects),
                      CLASSES)[0] == pytest.approx(ref, abs=1e-12)


def _one_image(tmp_path, gt_lines, boxes, scores):
    """One image's ship labels and detections (class 0 of ('ship', ))."""
    ann = tmp_path / 'ann'
    ann.mkdir()
    (ann / 'P1.txt').write_text(''.join(gt_lines))
    dets = {'P1': (np.array(boxes, np.float32).reshape(-1, 4),
                   np.array(scores, np.float32),
                   np.zeros(len(boxes), np.int64))}
    return dets, str(ann)


def test_eleven_point_ap_by_hand(tmp_path):
    # 2 ships; by score: hit, miss, hit -> recall .5 .5 1, precision 1 .5 2/3
    gt = ['0 0 20 0 20 20 0 20 ship 0\n', '50 50 70 50 70 70 50 70 ship 0\n']
    dets, ann = _one_image(tmp_path, gt, [[0, 0, 20, 20], [100, 100, 120, 120],
                                          [50, 50, 70, 70]], [.9, .8, .7])
    eleven = (6 * 1 + 5 * 2 / 3) / 11  # points 0..0.5: 1, 0.6..1: 2/3
    assert evaluate_task2(dets, ann, ('ship', ))[0] == pytest.approx(eleven)
    # mmdet's area mode (dota_merge's secondary number) differs
    area, _ = dota_merge.evaluate_area_mode(dets, ann, ('ship', ))
    assert area == pytest.approx(0.5 * 1 + 0.5 * 2 / 3)
    assert abs(area - eleven) > 0.01
    # the devkit's points are np.arange floats: recall 3/10 = 0.3 stays
    # below 0.30000000000000004, so 3 of 10 found scores 3/11, not 4/11
    assert voc07_ap(np.array([.1, .2, 3 / 10]), np.ones(3)) == \
        pytest.approx(3 / 11)


def test_plus_one_pixel_truncation_and_strict_threshold(tmp_path):
    gt = np.array([[0., 0., 10., 10.]])
    # 10 x 4.6 in 10 x 10: IoU 0.46 without, (11 * 5.6) / 121 with +1
    assert task2_overlaps(np.array([0., 0., 10., 4.6]), gt)[0] == \
        pytest.approx(11 * 5.6 / 121)
    # ground truth 9.9 -> 9 (int(float(v))): 10 x 10 pixels, and a 10 x 5.1
    # box covers 0.51 of it (0.43 of 10.9 x 10.9 untruncated): a hit
    dets, ann = _one_image(tmp_path, ['0 0 9.9 0 9.9 9.9 0 9.9 ship 0\n'],
                           [[0, 0, 9, 4.1]], [.9])
    assert evaluate_task2(dets, ann, ('ship', ))[0] == pytest.approx(1)
    # exactly 0.5 (10 x 5 of 10 x 10 pixels) is not above 0.5: a miss
    dets['P1'][0][0, 3] = 4
    assert evaluate_task2(dets, ann, ('ship', ))[0] == 0


def test_difficult_duplicates_and_matched_best_overlap(tmp_path):
    gt = ['0 0 20 0 20 20 0 20 ship 0\n', '50 50 70 50 70 70 50 70 ship 0\n',
          '100 100 120 100 120 120 100 120 ship 1\n']
    # difficult hit (neither), A (TP), A again (FP), B (TP):
    # recall 0 .5 .5 1, precision 0 1 .5 2/3
    dets, ann = _one_image(
        tmp_path, gt, [[100, 100, 120, 120], [0, 0, 20, 20], [1, 1, 20, 20],
                       [50, 50, 70, 70]], [.95, .9, .8, .7])
    assert evaluate_task2(dets, ann, ('ship', ))[0] == \
        pytest.approx((6 + 5 * 2 / 3) / 11)
    # two overlapping ships: a box whose best overlap is the matched one is
    # a false positive even though it covers the other one by > 0.5
    overlap = tmp_path / 'overlap'
    overlap.mkdir()
    dets, ann = _one_image(overlap, ['0 0 20 0 20 20 0 20 ship 0\n',
                                     '0 10 20 10 20 30 0 30 ship 0\n'],
                           [[0, 0, 20, 20], [0, 4, 20, 24]], [.9, .8])
    assert task2_overlaps(dets['P1'][0][1].astype(float),
                          np.array([[0., 10, 20, 30]]))[0] > 0.5
    assert evaluate_task2(dets, ann, ('ship', ))[0] == pytest.approx(6 / 11)


def test_task2_file_lines(tmp_path):
    dets = {'P2': (np.array([[1.5, 2, 30.25, 40]], np.float32),
                   np.array([0.1], np.float32), np.array([1]))}
    paths = write_task2_files(str(tmp_path), dets, ('plane', 'ship'))
    assert [osp.basename(p) for p in paths] == ['Task2_plane.txt',
                                                'Task2_ship.txt']
    assert open(paths[0]).read() == ''
    assert open(paths[1]).read() == 'P2 0.1 1.5 2 30.25 40\n'


def test_missing_annotations_name_the_path(tmp_path):
    dets = {'P3': (np.zeros((0, 4)), np.zeros(0), np.zeros(0, int))}
    with pytest.raises(AnnotationDirError, match='nope" does not exist'):
        evaluate_task2(dets, str(tmp_path / 'nope'), CLASSES)
    with pytest.raises(AnnotationDirError, match=r'P3.txt" for the evaluated'
                       r' image "P3"'):
        evaluate_task2(dets, str(tmp_path), CLASSES)


# ---------------------------------------------- the metric, end to end --- #
def patch_samples(dets, sizes, size=128, gap=80):
    """Data samples of the test loop on dota_split.py patches (rates 1 and,
    for the first image, 0.5): each full-image detection lying inside a
    patch is predicted there, in patch pixels (the overlap is wider than
    any box, so every one lies inside a patch)."""
    samples = []
    for (name, (boxes, scores, labels)), (w, h) in zip(sorted(dets.items()),
                                                        sizes):
        for rate in ((1.0, 0.5) if name.endswith('00') else (1.0, )):
            sw, sh = int(w * rate), int(h * rate)
            for y0 in window_starts(sh, size, gap):
                for x0 in window_starts(sw, size, gap):
                    b = boxes * rate - [x0, y0, x0, y0]
                    inside = ((b[:, :2] >= 0) & (b[:, 2:] <= size)).all(1)
                    samples.append(dict(
                        img_path=f'/data/val/images/{name}__{rate:g}__{x0}'
                        f'___{y0}.png',
                        pred_instances=dict(
                            bboxes=torch.from_numpy(b[inside]).float(),
                            scores=torch.from_numpy(scores[inside]),
                            labels=torch.from_numpy(labels[inside]))))
    return samples


def test_metric_on_patches_equals_the_reference_and_dota_merge(tmp_path):
    objects, dets = {}, {}
    for seed in (1, 2):  # images of several seeds, objects at most 40 px
        o, d = scene(seed, SIZES[:3], duplicates=False)
        objects.update(o)
        dets.update(d)
    sizes = [SIZES[int(n[-2:])] for n in sorted(dets)]
    rect, obb = write_gt(str(tmp_path), objects)
    write_dets(str(tmp_path / 'dets'), dets)
    ref, _ = devkit_map(str(tmp_path / 'dets'), rect, sorted(objects),
                        CLASSES)
    samples = patch_samples(dets, sizes)
    assert len(samples) > 3 * len(dets)
    from mmdet.registry import METRICS
    from mmengine.registry import DefaultScope
    # whatever default scope an earlier test of this process left
    with DefaultScope.overwrite_default_scope('mmdet'):
        metric = METRICS.build(dict(type='DOTATask2Metric', ann_dir=obb,
                                    classwise=True,
                                    task2_dir=str(tmp_path / 'task2')))
    metric.dataset_meta = dict(classes=CLASSES)
    for i in range(0, len(samples), 4):
        metric.process({}, samples[i:i + 4])
    res = metric.evaluate(len(samples))
    assert res['dota/mAP'] == pytest.approx(ref, abs=1e-12)
    assert 0 < ref < 1 and res['dota/helicopter_AP'] == 0
    assert devkit_map(str(tmp_path / 'task2'), rect, sorted(objects),
                      CLASSES)[0] == pytest.approx(ref, abs=1e-12)
    # tools/test.py --out predictions -> dota_merge.py: the same number
    pkl = tmp_path / 'patches.pkl'
    with open(pkl, 'wb') as f:
        pickle.dump(samples, f)
    out = io.StringIO()
    with redirect_stdout(out):
        merged_map = dota_merge.main([str(pkl), str(tmp_path / 'merged'),
                                      '--ann-dir', obb,
                                      '--classes', *CLASSES])
    assert merged_map == res['dota/mAP']
    assert f'VOC07 11-point): {ref * 100:.2f}' in out.getvalue()
    assert 'secondary, mmdet VOC area-mode' in out.getvalue()


def test_metric_full_images_format_only_and_registration(tmp_path):
    objects, dets = scene(3, SIZES[:2], duplicates=False)
    rect, _ = write_gt(str(tmp_path), objects)
    samples = [dict(img_path=f'/data/{n}.png', pred_instances=dict(
        bboxes=torch.from_numpy(b), scores=torch.from_numpy(s),
        labels=torch.from_numpy(lab))) for n, (b, s, lab) in dets.items()]
    metric = DOTATask2Metric(ann_dir=rect, prefix='official')
    metric.dataset_meta = dict(classes=CLASSES)
    metric.process({}, samples)  # names that are not patch names
    res = metric.evaluate(len(samples))
    assert res == {'official/mAP': evaluate_task2(dets, rect, CLASSES)[0]}
    only = DOTATask2Metric(format_only=True, task2_dir=str(tmp_path / 't2'))
    only.dataset_meta = dict(classes=DOTA_V1_CLASSES)
    only.process({}, samples)
    assert only.evaluate(len(samples)) == {}
    assert len(os.listdir(tmp_path / 't2')) == 15
    with pytest.raises(AnnotationDirError, match='ann_dir "missing/"'):
        DOTATask2Metric(ann_dir='missing/')
