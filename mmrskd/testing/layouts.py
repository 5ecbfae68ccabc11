"""Tiny datasets in the on-disk layouts that the real downloads ship.

Each writer makes a few small images in exactly the folder structure, file
names, extensions and annotation formats of one public dataset, so that the
end-to-end tests read data the way a user's download is read:

* scene sets, folder per class with the official folder names
  (:data:`SCENE_SETS`: NWPU-RESISC45, AID, UC Merced ``.tif``, RSSCN7's
  ``aGrass`` ... ``gParking``, RSOD's ``<class>/JPEGImages/``);
* NWPU VHR-10 (``positive image set/``, ``negative image set/``,
  ``ground truth/*.txt`` with ``(x1,y1),(x2,y2),class_id`` lines);
* DOTA-v1.0 before splitting (``<split>/images/*.png`` and
  ``<split>/labelTxt/*.txt`` with the ``imagesource:``/``gsd:`` header);
* the Airbus Aircraft Detection sample (``annotations.csv``, ``train/``,
  ``valid/``).

Unlike the real sets (mostly square, one size per set), every image here
has its own non-square size, so code that assumes one image size fails.
The folder names are written out here on purpose instead of being taken
from the dataset classes: a class list that does not match the download
is then caught. The same seed gives the same files on every machine.
"""
import csv
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np

from mmrskd.datasets.dota_labels import DOTA_V1_CLASSES

Size = Tuple[int, int]  # (width, height)

NWPU_RESISC45_FOLDERS = (
    'airplane', 'airport', 'baseball_diamond', 'basketball_court', 'beach',
    'bridge', 'chaparral', 'church', 'circular_farmland', 'cloud',
    'commercial_area', 'dense_residential', 'desert', 'forest', 'freeway',
    'golf_course', 'ground_track_field', 'harbor', 'industrial_area',
    'intersection', 'island', 'lake', 'meadow', 'medium_residential',
    'mobile_home_park', 'mountain', 'overpass', 'palace', 'parking_lot',
    'railway', 'railway_station', 'rectangular_farmland', 'river',
    'roundabout', 'runway', 'sea_ice', 'ship', 'snowberg',
    'sparse_residential', 'stadium', 'storage_tank', 'tennis_court',
    'terrace', 'thermal_power_station', 'wetland')
AID_FOLDERS = (
    'Airport', 'BareLand', 'BaseballField', 'Beach', 'Bridge', 'Center',
    'Church', 'Commercial', 'DenseResidential', 'Desert', 'Farmland',
    'Forest', 'Industrial', 'Meadow', 'MediumResidential', 'Mountain', 'Park',
    'Parking', 'Playground', 'Pond', 'Port', 'RailwayStation', 'Resort',
    'River', 'School', 'SparseResidential', 'Square', 'Stadium',
    'StorageTanks', 'Viaduct')
UCM_FOLDERS = (
    'agricultural', 'airplane', 'baseballdiamond', 'beach', 'buildings',
    'chaparral', 'denseresidential', 'forest', 'freeway', 'golfcourse',
    'harbor', 'intersection', 'mediumresidential', 'mobilehomepark',
    'overpass', 'parkinglot', 'river', 'runway', 'sparseresidential',
    'storagetanks', 'tenniscourt')
RSSCN7_FOLDERS = ('aGrass', 'bField', 'cIndustry', 'dRiverLake', 'eForest',
                  'fResident', 'gParking')
RSOD_FOLDERS = ('aircraft', 'oiltank', 'overpass', 'playground')

#: name -> folder names, file extension, file-name pattern (``{folder}``,
#: ``{lower}`` = lower-case folder, ``{initial}`` = its first letter, ``{i}``
#: = index from ``start``, 1 by default) and the sub-folder of a class folder
#: that holds the images, as each download ships them.
SCENE_SETS: Dict[str, dict] = {
    'NWPU-RESISC45': dict(folders=NWPU_RESISC45_FOLDERS, ext='.jpg',
                          pattern='{folder}_{i:03d}'),
    'AID': dict(folders=AID_FOLDERS, ext='.jpg', pattern='{lower}_{i}'),
    'UCMerced_LandUse': dict(folders=UCM_FOLDERS, ext='.tif',
                             pattern='{folder}{i:02d}', start=0),
    'RSSCN7': dict(folders=RSSCN7_FOLDERS, ext='.jpg',
                   pattern='{initial}{i:03d}'),
    'RSOD': dict(folders=RSOD_FOLDERS, ext='.jpg', pattern='{folder}_{i}',
                 subdir='JPEGImages'),
}


def random_sizes(rng: np.random.RandomState, n: int, lo: int,
                 hi: int) -> List[Size]:
    """``n`` distinct non-square ``(width, height)`` pairs in ``[lo, hi]``,
    alternating landscape and portrait."""
    sizes: List[Size] = []
    while len(sizes) < n:
        a, b = sorted(rng.randint(lo, hi + 1, 2))
        if a == b or (a, b) in sizes or (b, a) in sizes:
            continue
        sizes.append((b, a) if len(sizes) % 2 == 0 else (a, b))
    return sizes


def draw_image(rng: np.random.RandomState, size: Size,
               boxes: Sequence[Sequence[float]] = ()) -> np.ndarray:
    """A BGR uint8 image of ``size`` with textured background and a bright
    filled rectangle per ``(x1, y1, x2, y2)`` box."""
    width, height = size
    img = rng.randint(40, 140, (height, width, 3)).astype(np.uint8)
    for x1, y1, x2, y2 in boxes:
        cv2.rectangle(img, (int(x1), int(y1)), (int(x2) - 1, int(y2) - 1),
                      tuple(int(c) for c in rng.randint(170, 256, 3)), -1)
    return img


def write_image(path: str, img: np.ndarray) -> str:
    """Write ``img`` to ``path`` (format from the extension), creating the
    folder; an error names the file when the codec refuses it."""
    os.makedirs(osp.dirname(path), exist_ok=True)
    if not cv2.imwrite(path, img):
        raise RuntimeError(f'Could not write image "{path}".')
    return path


def write_scene_set(root: str, name: str, per_class: int = 3,
                    size_range: Tuple[int, int] = (40, 96),
                    seed: int = 0) -> str:
    """Write ``per_class`` images per class of the scene set ``name`` (a key
    of :data:`SCENE_SETS`) under ``root`` in its download's layout.

    RSOD also gets its ``Annotation/xml/`` folder next to ``JPEGImages/``.
    Returns ``root``.
    """
    if name not in SCENE_SETS:
        raise KeyError(f'Unknown scene set {name!r}; known: '
                       f'{list(SCENE_SETS)}.')
    spec = SCENE_SETS[name]
    rng = np.random.RandomState(seed)
    for folder in spec['folders']:
        image_dir = osp.join(root, folder, spec.get('subdir', ''))
        for i, size in enumerate(random_sizes(rng, per_class, *size_range),
                                 spec.get('start', 1)):
            stem = spec['pattern'].format(folder=folder, lower=folder.lower(),
                                          initial=folder[0], i=i)
            write_image(osp.join(image_dir, stem + spec['ext']),
                        draw_image(rng, size))
            if spec.get('subdir'):
                _write_voc_stub(osp.join(root, folder, 'Annotation', 'xml',
                                         stem + '.xml'), stem, size, folder)
    return root


def _write_voc_stub(path: str, stem: str, size: Size, cls: str) -> None:
    """RSOD's per-image VOC annotation (one object over the centre)."""
    os.makedirs(osp.dirname(path), exist_ok=True)
    w, h = size
    with open(path, 'w') as f:
        f.write(f'<annotation><filename>{stem}.jpg</filename><size><width>'
                f'{w}</width><height>{h}</height><depth>3</depth></size>'
                f'<object><name>{cls}</name><bndbox><xmin>{w // 4}</xmin>'
                f'<ymin>{h // 4}</ymin><xmax>{3 * w // 4}</xmax><ymax>'
                f'{3 * h // 4}</ymax></bndbox></object></annotation>\n')


def random_boxes(rng: np.random.RandomState, size: Size, n: int,
                 side: Tuple[int, int] = (20, 60)) -> List[List[int]]:
    """``n`` boxes ``[x1, y1, x2, y2]`` with sides in ``side`` inside an
    image of ``size``."""
    width, height = size
    boxes = []
    for _ in range(n):
        bw, bh = rng.randint(side[0], side[1] + 1, 2)
        x1 = rng.randint(0, max(1, width - bw))
        y1 = rng.randint(0, max(1, height - bh))
        boxes.append([int(x1), int(y1), int(x1 + bw), int(y1 + bh)])
    return boxes


def write_nwpu_vhr10(root: str, positive: Sequence[Size],
                     negative: Sequence[Size] = ((210, 170), (160, 240)),
                     seed: int = 0) -> str:
    """NWPU VHR-10 as it ships, one positive image per size in
    ``positive`` (``001.jpg`` ...) and its ``ground truth`` file, class ids
    1-10 in turn, and the ``negative image set``. Returns ``root``."""
    rng = np.random.RandomState(seed)
    gt_dir = osp.join(root, 'ground truth')
    os.makedirs(gt_dir, exist_ok=True)
    cls = 0
    for i, size in enumerate(positive, 1):
        boxes = random_boxes(rng, size, 3)
        write_image(osp.join(root, 'positive image set', f'{i:03d}.jpg'),
                    draw_image(rng, size, boxes))
        lines = []
        for x1, y1, x2, y2 in boxes:
            lines.append(f'({x1},{y1}),({x2},{y2}),{cls % 10 + 1}')
            cls += 1
        with open(osp.join(gt_dir, f'{i:03d}.txt'), 'w') as f:
            f.write('\n'.join(lines) + '\n\n')  # the files end blank
    for i, size in enumerate(negative, 1):
        write_image(osp.join(root, 'negative image set', f'{i:03d}.jpg'),
                    draw_image(rng, size))
    return root


def rotated_polygon(box: Sequence[float], angle: float) -> List[float]:
    """The 4 corners (clockwise, ``x1 y1 ... x4 y4``) of ``box`` rotated by
    ``angle`` degrees about its centre, as DOTA annotates objects."""
    x1, y1, x2, y2 = box
    pts = cv2.boxPoints((((x1 + x2) / 2, (y1 + y2) / 2), (x2 - x1, y2 - y1),
                         angle))
    return [round(float(v), 1) for v in pts.reshape(-1)]


def write_dota(root: str, splits: Dict[str, Sequence[Size]],
               objects_per_image: int = 8, seed: int = 0) -> str:
    """Unsplit DOTA-v1.0: ``root/<split>/images/P0000.png`` and
    ``labelTxt/P0000.txt`` per size of ``splits[split]``. The 15 classes
    come in turn (each at least twice with 4 training images of 8 objects),
    polygons are rotated, every image has one difficult object and the
    header lines; the last image of a split says ``gsd:null`` as some
    DOTA files do. Returns ``root``."""
    rng = np.random.RandomState(seed)
    cls, index = 0, 0
    for split, sizes in splits.items():
        for n, size in enumerate(sizes):
            stem = f'P{index:04d}'
            index += 1
            boxes = random_boxes(rng, size, objects_per_image)
            write_image(osp.join(root, split, 'images', stem + '.png'),
                        draw_image(rng, size, boxes))
            gsd = 'null' if n == len(sizes) - 1 else '0.146343590398'
            lines = ['imagesource:GoogleEarth', f'gsd:{gsd}']
            for k, box in enumerate(boxes):
                poly = rotated_polygon(box, float(rng.uniform(-30, 30)))
                lines.append(' '.join(f'{v:g}' for v in poly) +
                             f' {DOTA_V1_CLASSES[cls % 15]} {int(k == 0)}')
                cls += 1
            label_dir = osp.join(root, split, 'labelTxt')
            os.makedirs(label_dir, exist_ok=True)
            with open(osp.join(label_dir, stem + '.txt'), 'w') as f:
                f.write('\n'.join(lines) + '\n')
    return root


def write_airbus(root: str, splits: Dict[str, Sequence[Size]],
                 seed: int = 0) -> str:
    """The Airbus Aircraft Detection sample: ``<split>/<id>.jpg`` for the
    splits ``train`` and ``valid`` and ``annotations.csv`` (``id, image_id,
    geometry, class``; geometry the closed pixel polygon of the box). Each
    image has two ``Airplane`` boxes and one ``Truncated_airplane`` cut by
    the left border. Returns ``root``."""
    rng = np.random.RandomState(seed)
    rows: List[list] = []
    for split, sizes in splits.items():
        for n, size in enumerate(sizes):
            image_id = f'{split}-{n:04d}-{rng.randint(1 << 30):08x}.jpg'
            boxes = random_boxes(rng, size, 2, side=(30, 70))
            boxes.append([0, 20, 24, 60])
            write_image(osp.join(root, split, image_id),
                        draw_image(rng, size, boxes))
            for k, (x1, y1, x2, y2) in enumerate(boxes):
                ring = [(x1, y1), (x2, y1), (x2, y2), (x1, y2), (x1, y1)]
                rows.append([len(rows) + 1, image_id, str(ring),
                             'Truncated_airplane' if k == 2 else 'Airplane'])
    os.makedirs(root, exist_ok=True)
    with open(osp.join(root, 'annotations.csv'), 'w', newline='') as f:
        writer = csv.writer(f)
        writer.writerow(['id', 'image_id', 'geometry', 'class'])
        writer.writerows(rows)
    return root


def image_sizes(folder: str, exts: Optional[Sequence[str]] = None
                ) -> Dict[str, Size]:
    """``file name -> (width, height)`` of the images directly in
    ``folder``: lets a test check that a layout has mixed sizes."""
    out = {}
    for name in sorted(os.listdir(folder)):
        if exts and not name.lower().endswith(tuple(exts)):
            continue
        img = cv2.imread(osp.join(folder, name), cv2.IMREAD_UNCHANGED)
        if img is not None:
            out[name] = (img.shape[1], img.shape[0])
    return out
