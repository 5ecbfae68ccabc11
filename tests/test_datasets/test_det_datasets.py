import os
import os.path as osp

import cv2
import numpy as np
import pytest

from mmrskd.apis.dota_patches import (merge_patch_detections,
                                      parse_patch_name, window_starts)
from mmrskd.datasets import DOTADataset, NWPUVHR10Dataset
from mmrskd.datasets.dota_labels import DOTAFormatError, parse_dota_file
from tools.dataset_converters import airbus_to_dota, dota_merge, dota_split

from ..conftest import SHARED_DATA


def _img(path, w, h, seed=0):
    os.makedirs(osp.dirname(path), exist_ok=True)
    cv2.imwrite(str(path), np.random.RandomState(seed).randint(
        0, 255, (h, w, 3), dtype=np.uint8))


def _txt(path, text):
    os.makedirs(osp.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        f.write(text)


def _dota(root, lines, w=200, h=100, name='P0001'):
    _img(root / 'images' / f'{name}.png', w, h)
    _txt(root / 'labelTxt' / f'{name}.txt', lines)


def test_dota_dataset_boxes_difficult_and_degenerate(tmp_path):
    _dota(tmp_path, 'imagesource:GoogleEarth\ngsd:0.1\n'
          '10 10 50 10 50 40 10 40 plane 0\n'
          '150 50 250 50 250 90 150 90 ship 1\n'      # clipped at x=200
          '5 5 5 5 5 5 5 5 small-vehicle 0\n'         # zero area
          '60 20 80 20 80 30 60 30 harbor\n')          # no difficult flag
    ds = DOTADataset(data_root=str(tmp_path), ann_file='labelTxt/',
                     data_prefix=dict(img='images/'))
    assert len(ds) == 1 and ds.num_degenerate == 1
    info = ds.get_data_info(0)
    assert (info['width'], info['height']) == (200, 100)
    inst = info['instances']
    assert [i['bbox'] for i in inst] == [[10, 10, 50, 40],
                                         [150, 50, 200, 90],
                                         [60, 20, 80, 30]]
    assert [i['ignore_flag'] for i in inst] == [0, 1, 0]
    assert [i['bbox_label'] for i in inst] == [0, 6, 12]


def test_dota_dataset_malformed_line(tmp_path):
    _dota(tmp_path, '10 10 50 10 50 40 10 40 plane 0\n10 10 plane\n')
    with pytest.raises(DOTAFormatError, match=r'P0001.txt, line 2'):
        DOTADataset(data_root=str(tmp_path), ann_file='labelTxt/',
                    data_prefix=dict(img='images/'))


def test_dota_v15_and_filter_empty(tmp_path):
    _dota(tmp_path, '1 1 9 1 9 9 1 9 container-crane 0\n')
    _dota(tmp_path, '1 1 9 1 9 9 1 9 plane 1\n', name='P0002')
    ds = DOTADataset(data_root=str(tmp_path), ann_file='labelTxt/',
                     data_prefix=dict(img='images/'), version='1.5',
                     filter_cfg=dict(filter_empty_gt=True))
    # P0002 has only an ignored (difficult) object
    assert len(ds) == 1 and len(ds.metainfo['classes']) == 16
    with pytest.raises(DOTAFormatError, match='container-crane'):
        DOTADataset(data_root=str(tmp_path), ann_file='labelTxt/',
                    data_prefix=dict(img='images/'))


def test_window_starts_cover_with_overlap():
    assert window_starts(100, 128, 32) == [0]
    assert window_starts(300, 128, 32) == [0, 96, 172]
    with pytest.raises(ValueError, match='gap'):
        window_starts(300, 128, 128)


def test_split_clips_overlaps_and_drops(tmp_path):
    src, out = tmp_path / 'src', tmp_path / 'out'
    # 300 x 128 image, windows at x = 0, 96, 172 (size 128, gap 32)
    _dota(src, 'gsd:0.5\n'
          '10 10 40 10 40 40 10 40 plane 0\n'        # only in window 0
          '100 50 124 50 124 70 100 70 ship 0\n'     # inside windows 0, 96
          '120 80 140 80 140 100 120 100 harbor 1\n', w=300, h=128)
    n = dota_split.split_dataset(str(src), str(out), size=128, gap=32,
                                 keep_share=0.7, nproc=1)
    assert n == 3
    objs = {x: parse_dota_file(str(out / 'labelTxt' /
                                   f'P0001__1__{x}___0.txt')).objects
            for x in (0, 96, 172)}
    assert [o.category for o in objs[0]] == ['plane', 'ship']
    # harbor: 8/20 of its box inside window 0 (< 0.7) -> dropped there;
    # fully inside window 96, shifted and still difficult
    assert [o.category for o in objs[96]] == ['ship', 'harbor']
    assert objs[96][1].hbox() == (24, 80, 44, 100) and objs[96][1].difficult
    assert objs[172] == []
    ann = parse_dota_file(str(out / 'labelTxt' / 'P0001__1__0___0.txt'))
    assert ann.gsd == 0.5
    patch = cv2.imread(str(out / 'images' / 'P0001__1__172___0.png'))
    assert patch.shape == (128, 128, 3)
    # multi-scale: rate 0.5 gives one 150 x 64 image -> 2 windows
    n = dota_split.split_dataset(str(src), str(tmp_path / 'o2'), size=128,
                                 gap=32, rates=(0.5, ), nproc=1)
    assert n == 2
    half = parse_dota_file(str(tmp_path / 'o2' / 'labelTxt' /
                               'P0001__0.5__0___0.txt'))
    assert half.objects[0].hbox() == (5, 5, 20, 20) and half.gsd == 1.0


def test_merge_maps_back_and_suppresses_duplicates():
    assert parse_patch_name('a__b__0.5__96___32.png') == ('a__b', 0.5, 96, 32)
    with pytest.raises(ValueError, match='not a patch name'):
        parse_patch_name('P0001.png')
    box = np.array([[4, 40, 24, 60]], np.float32)  # ship at x 100-120
    merged = merge_patch_detections([
        ('P1__1__96___0', box, np.array([0.9]), np.array([6])),
        ('P1__1__0___0', box + [96, 0, 96, 0], np.array([0.8]),
         np.array([6])),
        ('P1__0.5__0___0', box / 2 + [48, 0, 48, 0], np.array([0.7]),
         np.array([1])),
    ])
    boxes, scores, labels = merged['P1']
    order = np.argsort(-scores)
    assert np.allclose(boxes[order], [[100, 40, 120, 60], [100, 40, 120, 60]])
    assert list(labels[order]) == [6, 1] and list(scores[order]) == [
        pytest.approx(0.9), pytest.approx(0.7)]


def test_merge_evaluate_full_images(tmp_path):
    _txt(tmp_path / 'ann' / 'P1.txt', '100 40 120 40 120 60 100 60 ship 0\n'
         '0 0 9 0 9 9 0 9 ship 1\n')
    merged = {'P1': (np.array([[100, 40, 120, 60], [0, 0, 9, 9]], float),
                     np.array([0.9, 0.8]), np.array([6, 6]))}
    mean_ap, _ = dota_merge.evaluate_area_mode(
        merged, str(tmp_path / 'ann'), dota_merge.DOTA_V1_CLASSES)
    assert mean_ap == pytest.approx(1.0)  # the difficult hit is ignored


def _nwpu(root):
    _img(root / 'positive image set' / '001.jpg', 100, 80)
    _img(root / 'positive image set' / '002.jpg', 100, 80, 1)
    _img(root / 'negative image set' / '001.jpg', 50, 50, 2)
    _txt(root / 'ground truth' / '001.txt',
         '(10,20),(30,40),1\n(50,10),(120,70),10\n\n')
    _txt(root / 'ground truth' / '002.txt', '(1, 2), (3, 4), 2\n')


def test_nwpu_vhr10_parsing_and_split(tmp_path):
    _nwpu(tmp_path)
    parts = [NWPUVHR10Dataset(data_root=str(tmp_path), split=s,
                              train_ratio=0.5, with_negatives=True)
             for s in ('train', 'test')]
    infos = [p.get_data_info(i) for p in parts for i in range(len(p))]
    assert len(infos) == 3
    one = next(i for i in infos if i['img_id'] == '001')
    assert [x['bbox'] for x in one['instances']] == [[10, 20, 30, 40],
                                                     [50, 10, 100, 70]]
    assert [x['bbox_label'] for x in one['instances']] == [0, 9]
    assert any(i['img_id'] == 'neg_001' and not i['instances']
               for i in infos)
    again = NWPUVHR10Dataset(data_root=str(tmp_path), split='train',
                             train_ratio=0.5, with_negatives=True)
    assert [again.get_data_info(i)['img_id'] for i in range(len(again))] \
        == [parts[0].get_data_info(i)['img_id']
            for i in range(len(parts[0]))]


def test_nwpu_vhr10_bad_line(tmp_path):
    _nwpu(tmp_path)
    _txt(tmp_path / 'ground truth' / '002.txt', '(1,2),(3,4),11\n')
    with pytest.raises(ValueError, match=r'002.txt, line 1'):
        for s in ('train', 'test'):
            NWPUVHR10Dataset(data_root=str(tmp_path), split=s,
                             train_ratio=0.5)


def test_airbus_conversion(tmp_path):
    src = tmp_path / 'airbus'
    _img(src / 'train' / 'a.jpg', 64, 64)
    _img(src / 'valid' / 'b.jpg', 64, 64)
    _txt(src / 'annotations.csv',
         'id,image_id,geometry,class\n'
         '1,a.jpg,"[(1, 2), (11, 2), (11, 12), (1, 12), (1, 2)]",Airplane\n'
         '2,a.jpg,"[(50, 0), (64, 0), (64, 9), (50, 9), (50, 0)]",'
         'Truncated_airplane\n')
    stats = airbus_to_dota.convert(str(src), str(tmp_path / 'out'),
                                   truncated_difficult=True)
    assert stats == {'train': (1, 2), 'valid': (1, 0)}
    ann = parse_dota_file(str(tmp_path / 'out/train/labelTxt/a.txt'))
    assert [o.hbox() for o in ann.objects] == [(1, 2, 11, 12), (50, 0, 64, 9)]
    assert [o.difficult for o in ann.objects] == [False, True]
    assert ann.gsd == 0.5
    ds = DOTADataset(data_root=str(tmp_path / 'out/train'),
                     ann_file='labelTxt/', data_prefix=dict(img='images/'))
    assert len(ds.get_data_info(0)['instances']) == 2
    _txt(src / 'annotations.csv', 'id,image_id,geometry,class\n'
         '1,a.jpg,"[(1, 2)]",Airplane\n')
    with pytest.raises(ValueError, match='line 2: expected 4 corners'):
        airbus_to_dota.convert(str(src), str(tmp_path / 'o2'))


@pytest.mark.skipif(not osp.isdir(osp.join(SHARED_DATA, 'airbus_aircraft')),
                    reason='../shared/data/airbus_aircraft not present')
def test_real_airbus_annotations_convert(tmp_path):
    stats = airbus_to_dota.convert(osp.join(SHARED_DATA, 'airbus_aircraft'),
                                   str(tmp_path / 'airbus'))
    assert stats['train'][0] == 95 and stats['valid'][0] == 8
    assert stats['train'][1] + stats['valid'][1] == 3425
