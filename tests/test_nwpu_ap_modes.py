"""NWPU VHR-10 reports VOC mAP@0.5 both ways: the area under the
interpolated precision-recall curve (VOC2010+, ``voc_area/mAP``) and the
VOC2007 11-point mean (``voc07/mAP``), plus COCO AP. Checked on every
NWPU VHR-10 config, and numerically against independent formulas on a case
where the two differ."""
import glob
import os.path as osp
from typing import List, Sequence

import numpy as np
import pytest
import torch
from mmengine.config import Config

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
NWPU_CONFIGS = sorted(
    osp.relpath(p, ROOT) for p in glob.glob(
        osp.join(ROOT, 'configs', '**', '*nwpu-vhr10*.py'), recursive=True))

#: one image, one class: four ground-truth boxes side by side
GT_BOXES = np.array([[0, 0, 10, 10], [20, 0, 30, 10], [40, 0, 50, 10],
                     [60, 0, 70, 10]], dtype=np.float32)
#: detections by falling score: True hits the next ground truth, False is
#: a box far from all of them; the fourth ground truth is missed
HITS = [True, False, True, False, False, True]


def detections() -> np.ndarray:
    """``HITS`` as (x1, y1, x2, y2, score) rows."""
    rows, found = [], 0
    for rank, hit in enumerate(HITS):
        if hit:
            box = GT_BOXES[found]
            found += 1
        else:
            box = np.array([200, 200 + 20 * rank, 210, 210 + 20 * rank])
        rows.append([*box, 1.0 - 0.1 * rank])
    return np.array(rows, dtype=np.float32)


def recall_precision(hits: Sequence[bool], num_gts: int):
    """Recall and precision after each ranked detection."""
    tp = np.cumsum(hits)
    ranks = np.arange(1, len(hits) + 1)
    return tp / num_gts, tp / ranks


def ap_11_points(recall: np.ndarray, precision: np.ndarray) -> float:
    """VOC2007: the mean over r in {0, 0.1, ..., 1} of the largest precision
    at a recall of at least r (0 where the recall never reaches r)."""
    values = []
    for r in [i / 10 for i in range(11)]:
        reached = precision[recall >= r]
        values.append(reached.max() if reached.size else 0.0)
    return float(np.mean(values))


def ap_area(recall: np.ndarray, precision: np.ndarray) -> float:
    """VOC2010+: the area under the interpolated curve p(r) = largest
    precision at a recall of at least r, summed over the recall steps."""
    area, previous = 0.0, 0.0
    for k in range(len(recall)):
        area += (recall[k] - previous) * precision[k:].max()
        previous = recall[k]
    return float(area)


@pytest.mark.parametrize('name', NWPU_CONFIGS)
def test_nwpu_configs_report_both_ap_modes(name):
    cfg = Config.fromfile(osp.join(ROOT, name))
    for key in ('val_evaluator', 'test_evaluator'):
        evaluators = cfg[key]
        modes = {ev.prefix: ev.eval_mode for ev in evaluators
                 if ev.type == 'VOCMetric'}
        assert modes == {'voc_area': 'area', 'voc07': '11points'}, (key,
                                                                    modes)
        for ev in evaluators:
            if ev.type == 'VOCMetric':
                assert ev.iou_thrs == [0.5] and ev.metric == 'mAP'
        assert [ev.type for ev in evaluators].count('CocoMetric') == 1


def test_every_nwpu_vhr10_config_is_checked():
    assert len(NWPU_CONFIGS) == 13 + 8, NWPU_CONFIGS  # 8: the baselines on
    # Faster R-CNN and FCOS
    assert 'configs/dynkd_retinanet_r50_r18_nwpu-vhr10.py' in NWPU_CONFIGS


def test_hand_values_of_the_case():
    recall, precision = recall_precision(HITS, len(GT_BOXES))
    # 11 points: 1 at r <= 0.2, 2/3 at 0.3-0.5, 1/2 at 0.6-0.7, 0 above
    assert ap_11_points(recall, precision) == pytest.approx(6 / 11)
    # area: 1/4 at 1, 1/4 at 2/3, 1/4 at 1/2
    assert ap_area(recall, precision) == pytest.approx(13 / 24)


@pytest.mark.parametrize('mode', ['area', '11points'])
def test_eval_map_modes_match_the_formulas(mode):
    from mmdet.evaluation.functional import eval_map
    annotation = dict(bboxes=GT_BOXES, labels=np.zeros(4, dtype=np.int64))
    mean_ap, _ = eval_map([[detections()]], [annotation], iou_thr=0.5,
                          eval_mode=mode, use_legacy_coordinate=True,
                          logger='silent')
    recall, precision = recall_precision(HITS, len(GT_BOXES))
    formula = ap_area if mode == 'area' else ap_11_points
    assert mean_ap == pytest.approx(formula(recall, precision), abs=1e-6)
    assert abs(ap_area(recall, precision) -
               ap_11_points(recall, precision)) > 3e-3  # the modes differ


def data_sample() -> dict:
    """The case as the data sample mmdet's ``VOCMetric`` reads."""
    dets = torch.from_numpy(detections())
    return dict(
        gt_instances=dict(bboxes=torch.from_numpy(GT_BOXES),
                          labels=torch.zeros(4, dtype=torch.long)),
        ignored_instances=dict(bboxes=torch.zeros(0, 4),
                               labels=torch.zeros(0, dtype=torch.long)),
        pred_instances=dict(bboxes=dets[:, :4], scores=dets[:, 4],
                            labels=torch.zeros(len(dets), dtype=torch.long)))


def voc_metrics_of(name: str) -> List[dict]:
    """The VOC metric configs of a config's test evaluator."""
    cfg = Config.fromfile(osp.join(ROOT, name))
    return [ev.to_dict() for ev in cfg.test_evaluator
            if ev.type == 'VOCMetric']


def test_nwpu_evaluator_keys_and_values():
    """The config's two VOC metrics give voc_area/mAP and voc07/mAP, each
    equal to its formula."""
    from mmengine.evaluator import Evaluator
    from mmengine.registry import init_default_scope
    init_default_scope('mmdet')
    evaluator = Evaluator(voc_metrics_of(
        'configs/retinanet_r18_fpn_nwpu-vhr10.py'))
    evaluator.dataset_meta = dict(classes=('airplane', ))
    evaluator.process([data_sample()])
    metrics = evaluator.evaluate(1)
    recall, precision = recall_precision(HITS, len(GT_BOXES))
    assert metrics['voc_area/mAP'] == pytest.approx(
        ap_area(recall, precision), abs=1e-6)
    assert metrics['voc07/mAP'] == pytest.approx(
        ap_11_points(recall, precision), abs=1e-6)
    assert not any(key.startswith('pascal_voc/') for key in metrics)
