# Copyright (c) mmrskd authors.
"""Airbus Aircraft Detection sample set -> DOTA layout.

    python tools/dataset_converters/airbus_to_dota.py \
        data/airbus_aircraft data/airbus_dota

writes ``OUT/{train,valid}/images/`` (symbolic links, or copies with
``--copy``) and ``OUT/{train,valid}/labelTxt/*.txt`` with one
``x1 y1 x2 y2 x3 y3 x4 y4 plane difficult`` line per box, so the real set
runs through ``tools/dataset_converters/dota_split.py`` and ``DOTADataset``
like DOTA itself. ``Truncated_airplane`` (cut by the image border) becomes
``plane`` too, flagged difficult with ``--truncated-difficult``.
"""
import argparse
import ast
import csv
import os
import os.path as osp
import shutil
from collections import defaultdict

CLASS_MAP = {'Airplane': 'plane', 'Truncated_airplane': 'plane'}


def parse_geometry(text, where):
    try:
        pts = ast.literal_eval(text)
        pts = [(float(x), float(y)) for x, y in pts]
    except Exception:  # noqa: BLE001
        raise ValueError(f'{where}: geometry {text!r} is not a list of '
                         '(x, y) points.') from None
    if len(pts) == 5 and pts[0] == pts[-1]:
        pts = pts[:4]  # closed ring
    if len(pts) != 4:
        raise ValueError(f'{where}: expected 4 corners, got {len(pts)}.')
    return pts


def convert(src, out, copy=False, truncated_difficult=False):
    """Returns ``{split: (images, boxes)}``."""
    csv_path = osp.join(src, 'annotations.csv')
    if not osp.isfile(csv_path):
        raise FileNotFoundError(f'"{csv_path}" does not exist.')
    boxes = defaultdict(list)
    with open(csv_path, newline='') as f:
        for lineno, row in enumerate(csv.DictReader(f), 2):
            where = f'{csv_path}, line {lineno}'
            if row.get('class') not in CLASS_MAP:
                raise ValueError(f'{where}: unknown class '
                                 f'{row.get("class")!r}; known: '
                                 f'{list(CLASS_MAP)}.')
            pts = parse_geometry(row['geometry'], where)
            difficult = int(truncated_difficult and
                            row['class'] == 'Truncated_airplane')
            boxes[row['image_id']].append((pts, CLASS_MAP[row['class']],
                                           difficult))
    stats = {}
    for split in ('train', 'valid'):
        img_dir = osp.join(src, split)
        if not osp.isdir(img_dir):
            continue
        os.makedirs(osp.join(out, split, 'images'), exist_ok=True)
        os.makedirs(osp.join(out, split, 'labelTxt'), exist_ok=True)
        n_img = n_box = 0
        for name in sorted(os.listdir(img_dir)):
            if not name.lower().endswith(('.jpg', '.png', '.tif')):
                continue
            dst = osp.join(out, split, 'images', name)
            if osp.lexists(dst):
                os.remove(dst)
            if copy:
                shutil.copy2(osp.join(img_dir, name), dst)
            else:
                os.symlink(osp.abspath(osp.join(img_dir, name)), dst)
            stem = osp.splitext(name)[0]
            with open(osp.join(out, split, 'labelTxt', stem + '.txt'),
                      'w') as f:
                f.write('imagesource:Airbus-Pleiades\ngsd:0.5\n')
                for pts, cls, difficult in boxes.get(name, []):
                    coords = ' '.join(f'{v:g}' for p in pts for v in p)
                    f.write(f'{coords} {cls} {difficult}\n')
                    n_box += 1
            n_img += 1
        stats[split] = (n_img, n_box)
    return stats


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument('src', help='airbus_aircraft folder (annotations.csv,'
                        ' train/, valid/)')
    parser.add_argument('out')
    parser.add_argument('--copy', action='store_true',
                        help='copy images instead of linking them')
    parser.add_argument('--truncated-difficult', action='store_true',
                        help='flag Truncated_airplane boxes difficult')
    args = parser.parse_args(argv)
    for split, (n_img, n_box) in convert(args.src, args.out, args.copy,
                                         args.truncated_difficult).items():
        print(f'{split}: {n_img} images, {n_box} boxes -> '
              f'{osp.join(args.out, split)}')


if __name__ == '__main__':
    main()
