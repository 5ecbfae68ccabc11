"""Detection distillation end to end through mmengine's Runner: DOTA-layout
data, RetinaNet R50 -> R18 with GD + ISD + TSA, validation with the VOC and
COCO metrics, testing with the DOTA Task2 metric too, student-only
checkpoints and export."""
import os
import os.path as osp

import cv2
import numpy as np
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import Runner

import mmrskd  # noqa: F401

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def _dota_split(root, n, seed):
    rng = np.random.RandomState(seed)
    os.makedirs(root / 'images')
    os.makedirs(root / 'labelTxt')
    for i in range(n):
        img = rng.randint(60, 120, (128, 128, 3), dtype=np.uint8)
        x, y = rng.randint(10, 70, 2)
        img[y:y + 30, x:x + 40] = 230
        cv2.imwrite(str(root / 'images' / f'P{i}.png'), img)
        (root / 'labelTxt' / f'P{i}.txt').write_text(
            f'gsd:0.5\n{x} {y} {x + 40} {y} {x + 40} {y + 30} {x} {y + 30} '
            'plane 0\n5 100 20 100 20 110 5 110 ship 1\n')


def _small(cfg, data_root, work_dir):
    for split in ('train_dataloader', 'val_dataloader'):
        loader = cfg[split]
        loader.dataset.data_root = str(data_root) + '/'
        loader.num_workers = 0
        loader.persistent_workers = False
        for t in loader.dataset.pipeline:
            if t['type'] == 'Resize':
                t['scale'] = (128, 128)
    cfg.test_dataloader = cfg.val_dataloader
    cfg.train_cfg.max_epochs = 1
    cfg.param_scheduler = []
    cfg.work_dir = str(work_dir)
    cfg.default_hooks.logger.interval = 1
    return cfg


def test_dynkd_retinanet_trains_validates_and_exports(tmp_path):
    init_default_scope('mmdet')
    data = tmp_path / 'data'
    _dota_split(data / 'train', 4, 0)
    _dota_split(data / 'val', 2, 1)
    cfg = Config.fromfile(osp.join(
        ROOT, 'configs/dynkd_retinanet_r50_r18_dota.py'))
    teacher_cfg = Config.fromfile(cfg.model.teacher_cfg)
    from mmdet.registry import MODELS
    teacher = MODELS.build(teacher_cfg.model)
    ckpt = tmp_path / 'teacher.pth'
    torch.save({'state_dict': teacher.state_dict()}, ckpt)
    cfg.model.teacher_ckpt = str(ckpt)
    # an untrained student scores low: keep its boxes for the metrics
    cfg.model.student.test_cfg.score_thr = 0.0
    cfg = _small(cfg, data, tmp_path / 'work')
    # the official DOTA Task2 metric scores the val images (full images
    # here) against their labelTxt files
    assert cfg.test_evaluator[0].type == 'DOTATask2Metric'
    cfg.test_evaluator[0].ann_dir = str(data / 'val' / 'labelTxt')
    runner = Runner.from_cfg(cfg)
    runner.train()
    metrics = runner.test()
    assert {'dota/mAP', 'patch_voc/mAP', 'patch_coco/bbox_mAP'} <= set(
        metrics)
    state = torch.load(tmp_path / 'work' / 'epoch_1.pth',
                       weights_only=True)['state_dict']
    assert not any('teacher' in k for k in state)
    assert any(k.startswith('gd_connectors.') for k in state)
    exported = torch.load(tmp_path / 'work' / 'student_final.pth',
                          weights_only=True)['state_dict']
    student = MODELS.build(Config.fromfile(osp.join(
        ROOT, 'configs/retinanet_r18_fpn_dota.py')).model)
    student.load_state_dict(exported, strict=True)
