import csv
import os
import os.path as osp

import cv2
import numpy as np
import pytest

from mmrskd.datasets import DOTACls
from mmrskd.datasets.dota_labels import (DOTA_V1_CLASSES, DOTAFormatError,
                                         parse_dota_file)
from tools.dataset_converters import dota_to_cls


def _write(path, text):
    os.makedirs(osp.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        f.write(text)
    return str(path)


def test_parse_headers_difficult_and_box(tmp_path):
    path = _write(tmp_path / 'a.txt', 'imagesource:GoogleEarth\n'
                  'gsd:0.146\n'
                  '10 20 50 20 50 60 10 60 plane 0\n'
                  '5.5 5 25 8 22 30 3 27 ship 1\n'
                  '\n'
                  '1 1 4 1 4 4 1 4 small-vehicle\n')
    ann = parse_dota_file(path, DOTA_V1_CLASSES)
    assert ann.imagesource == 'GoogleEarth'
    assert ann.gsd == pytest.approx(0.146)
    assert [o.category for o in ann.objects] == ['plane', 'ship',
                                                 'small-vehicle']
    assert [o.difficult for o in ann.objects] == [False, True, False]
    assert ann.objects[0].hbox() == (10, 20, 50, 60)
    assert ann.objects[1].hbox() == (3, 5, 25, 30)
    assert ann.objects[0].area() == pytest.approx(1600)
    assert ann.objects[1].line == 4


@pytest.mark.parametrize('line,msg', [
    ('10 20 50 20 50 60 plane 0', 'expected "x1 y1'),
    ('10 20 50 x 50 60 10 60 plane 0', 'coordinates must be numbers'),
    ('10 20 50 20 50 60 10 60 boat 0', "unknown category 'boat'"),
    ('10 20 50 20 50 60 10 60 plane 2', 'difficult flag must be 0 or 1'),
])
def test_malformed_line_names_file_and_line(tmp_path, line, msg):
    path = _write(tmp_path / 'b.txt',
                  'gsd:null\n1 1 4 1 4 4 1 4 plane 0\n' + line + '\n')
    with pytest.raises(DOTAFormatError, match=rf'b.txt, line 3: {msg}'):
        parse_dota_file(path, DOTA_V1_CLASSES)


def _make_dota(root, n_images=2):
    rng = np.random.RandomState(0)
    os.makedirs(root / 'images')
    for i in range(n_images):
        img = rng.randint(0, 255, (200, 300, 3), dtype=np.uint8)
        img[40:80, 100:160] = (0, 0, 255)  # the plane, red
        cv2.imwrite(str(root / 'images' / f'P{i:04d}.png'), img)
        _write(root / 'labelTxt' / f'P{i:04d}.txt',
               'imagesource:test\ngsd:0.5\n'
               '100 40 160 40 160 80 100 80 plane 0\n'
               '280 180 310 180 310 210 280 210 ship 1\n'
               '10 10 13 10 13 13 10 13 small-vehicle 0\n')


def test_dota_to_cls_crops_and_manifest(tmp_path):
    root = tmp_path / 'dota'
    _make_dota(root)
    out = tmp_path / 'cls'
    counts, skipped = dota_to_cls.convert(str(root), str(out), size=32,
                                          padding=0.0, min_size=8)
    assert counts == {'plane': 2, 'ship': 2}
    assert skipped == {'small': 2}
    crop = cv2.imread(str(out / 'plane' / 'P0000_L0003.png'))
    assert crop.shape == (32, 32, 3)
    # the 60 x 40 box becomes a 60 x 60 square: red in the middle rows,
    # random image above and below
    assert (crop[10:22, :, 2] > 250).all() and (crop[10:22, :, :2] < 5).all()
    # the ship lies partly outside the 300 x 200 image: zero padding
    ship = cv2.imread(str(out / 'ship' / 'P0000_L0004.png'))
    assert (ship[-4:] == 0).all() and (ship[:, -4:] == 0).all()
    rows = list(csv.DictReader(open(out / 'manifest.csv')))
    assert len(rows) == 4 and rows[0]['source_image'] == 'images/P0000.png'
    counts, skipped = dota_to_cls.convert(str(root), str(tmp_path / 'c2'),
                                          skip_difficult=True,
                                          max_per_class=1)
    assert counts == {'plane': 1}
    assert skipped['difficult'] == 2
    ds = DOTACls(str(out), split='train', train_ratio=0.5,
                 allow_missing_classes=True)
    assert len(ds) == 2 and ds.metainfo['classes'][0] == 'plane'
    assert {ds.get_data_info(i)['gt_label'] for i in range(2)} == {0, 6}
    with pytest.raises(ValueError, match='No folder'):
        DOTACls(str(out))


def test_dota_to_cls_bad_root(tmp_path):
    with pytest.raises(FileNotFoundError, match='images/ and labelTxt/'):
        dota_to_cls.convert(str(tmp_path), str(tmp_path / 'o'))
