# Copyright (c) mmrskd authors.
"""Crop DOTA objects into a folder-per-class classification set.

    python tools/dataset_converters/dota_to_cls.py data/DOTA/train \
        data/DOTA_cls --size 64 --padding 0.1 --min-size 8

DOTA_ROOT holds ``images/`` and ``labelTxt/`` as DOTA ships them. Every
object is cropped around its axis-aligned box, expanded to a square with
``--padding`` context on each side (the image border is zero-padded),
resized to ``--size`` pixels and written to ``OUT_DIR/<class>/``; a
``manifest.csv`` lists every crop with its source. The result is read by
the ``DOTACls`` dataset (configs/dft_r110_r18_dota.py).
"""
import argparse
import csv
import glob
import os
import os.path as osp
import sys
from collections import defaultdict

import cv2
import numpy as np

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from mmrskd.datasets.dota_labels import (DOTA_V1_CLASSES,  # noqa: E402
                                         DOTA_V15_CLASSES, parse_dota_file)
from mmrskd.datasets.image_files import (IMG_EXTENSIONS,  # noqa: E402
                                         find_image)


def square_crop(img, box, padding, size):
    """Crop the square around ``box`` (x1, y1, x2, y2) with ``padding`` x
    its longer side of context on each side; zero outside the image."""
    x1, y1, x2, y2 = box
    side = max(x2 - x1, y2 - y1) * (1 + 2 * padding)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    # affine map from the square to the output, zero border outside
    scale = size / side
    m = np.array([[scale, 0, size / 2 - cx * scale],
                  [0, scale, size / 2 - cy * scale]], np.float64)
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    return cv2.warpAffine(img, m, (size, size), flags=interp,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def collect_objects(label_dir, classes, min_size=8, skip_difficult=False,
                    max_per_class=None, seed=0):
    """The objects to crop, ``{class: [(label file, object)]}``, and the
    counts of skipped ones; the cap per class is a seeded sample of all
    the class's instances."""
    todo = defaultdict(list)
    skipped = defaultdict(int)
    for label_file in sorted(glob.glob(osp.join(label_dir, '*.txt'))):
        ann = parse_dota_file(label_file, classes)
        for obj in ann.objects:
            x1, y1, x2, y2 = obj.hbox()
            if skip_difficult and obj.difficult:
                skipped['difficult'] += 1
            elif min(x2 - x1, y2 - y1) < min_size:
                skipped['small'] += 1
            else:
                todo[obj.category].append((label_file, obj))
    rng = np.random.RandomState(seed)
    if max_per_class:
        for c, items in todo.items():
            if len(items) > max_per_class:
                keep = sorted(rng.choice(len(items), max_per_class,
                                         replace=False))
                todo[c] = [items[i] for i in keep]
    return todo, skipped


def write_crops(todo, dota_root, img_dir, out_dir, size, padding):
    """Crop the objects of ``todo`` (every image read once) into
    ``out_dir/<class>/`` and list them in ``manifest.csv``; returns
    ``{class: number of crops}``."""
    by_image = defaultdict(list)
    for c, items in todo.items():
        for label_file, obj in items:
            by_image[label_file].append(obj)
    os.makedirs(out_dir, exist_ok=True)
    counts = defaultdict(int)
    rows = []
    for label_file in sorted(by_image):
        stem = osp.splitext(osp.basename(label_file))[0]
        img_path = find_image(img_dir, stem)
        if img_path is None:
            raise FileNotFoundError(
                f'No image for {label_file} in {img_dir} (tried '
                f'{IMG_EXTENSIONS}).')
        img = cv2.imread(img_path, cv2.IMREAD_COLOR)
        if img is None:
            raise RuntimeError(f'Cannot decode image "{img_path}".')
        for obj in by_image[label_file]:
            crop = square_crop(img, obj.hbox(), padding, size)
            name = f'{stem}_L{obj.line:04d}.png'
            os.makedirs(osp.join(out_dir, obj.category), exist_ok=True)
            cv2.imwrite(osp.join(out_dir, obj.category, name), crop)
            counts[obj.category] += 1
            rows.append([f'{obj.category}/{name}', obj.category,
                         osp.relpath(img_path, dota_root), obj.line,
                         *[round(v, 1) for v in obj.hbox()],
                         int(obj.difficult)])
    with open(osp.join(out_dir, 'manifest.csv'), 'w', newline='') as f:
        w = csv.writer(f)
        w.writerow(['file', 'class', 'source_image', 'source_line', 'x1',
                    'y1', 'x2', 'y2', 'difficult'])
        w.writerows(rows)
    return counts


def convert(dota_root, out_dir, size=64, padding=0.1, min_size=8,
            skip_difficult=False, max_per_class=None, seed=0,
            version='1.0'):
    """Convert; returns ``({class: number of crops}, {reason: skipped})``."""
    classes = DOTA_V1_CLASSES if version == '1.0' else DOTA_V15_CLASSES
    label_dir = osp.join(dota_root, 'labelTxt')
    img_dir = osp.join(dota_root, 'images')
    for d in (label_dir, img_dir):
        if not osp.isdir(d):
            raise FileNotFoundError(
                f'"{d}" does not exist: DOTA_ROOT must hold images/ and '
                'labelTxt/ as DOTA ships them.')
    todo, skipped = collect_objects(label_dir, classes, min_size,
                                    skip_difficult, max_per_class, seed)
    counts = write_crops(todo, dota_root, img_dir, out_dir, size, padding)
    missing = [c for c in classes if not counts.get(c)]
    if missing:
        print(f'warning: no crop for class(es) {missing}', file=sys.stderr)
    return dict(counts), dict(skipped)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument('dota_root', help='folder with images/ and labelTxt/')
    parser.add_argument('out_dir')
    parser.add_argument('--size', type=int, default=64,
                        help='output side in pixels (default 64)')
    parser.add_argument('--padding', type=float, default=0.1,
                        help='context on each side, share of the longer '
                        'box side (default 0.1)')
    parser.add_argument('--min-size', type=float, default=8,
                        help='skip objects whose shorter box side is '
                        'smaller (pixels, default 8)')
    parser.add_argument('--skip-difficult', action='store_true',
                        help='drop objects flagged difficult')
    parser.add_argument('--max-per-class', type=int, default=None,
                        help='cap of instances per class (seeded sample)')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--version', choices=['1.0', '1.5'], default='1.0')
    args = parser.parse_args(argv)
    counts, skipped = convert(args.dota_root, args.out_dir, args.size,
                              args.padding, args.min_size,
                              args.skip_difficult, args.max_per_class,
                              args.seed, args.version)
    for c in sorted(counts):
        print(f'{c:20s} {counts[c]}')
    print(f'total {sum(counts.values())} crops -> {args.out_dir}; skipped '
          f'{skipped.get("small", 0)} small, '
          f'{skipped.get("difficult", 0)} difficult')


if __name__ == '__main__':
    main()
