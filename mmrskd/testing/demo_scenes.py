"""Deterministic synthetic aerial scenes for the demo and the tests.

Six classes drawn in the folder-per-class layout of NWPU-RESISC45 / AID:
airfield (runway and airplanes), harbour (water, piers and ships),
storage_tanks (round tanks with shadows), forest (tree crowns), farmland
(striped field parcels) and residential (house blocks along a street grid).
Every image gets a random layout, orientation, flips, colours, texture and
sensor noise, and classes share backgrounds and distractors (roads, trees,
vehicles), so the task is learnable but not trivial. The same seed gives
the same bytes on every machine (numpy's legacy RandomState, PNG output).
"""
import os
import os.path as osp
from typing import Callable, Dict, Optional

import cv2
import numpy as np

CLASSES = ('airfield', 'harbour', 'storage_tanks', 'forest', 'farmland',
           'residential')


def _texture(rng, size, base, amp, scale):
    """Low-frequency colour field around ``base`` (BGR)."""
    small = max(2, size // scale)
    field = rng.randn(small, small, 3) * amp
    field = cv2.resize(field, (size, size), interpolation=cv2.INTER_CUBIC)
    return np.clip(np.asarray(base, np.float64) + field, 0, 255)


def _jitter(rng, color, amp=20):
    return tuple(float(np.clip(c + rng.uniform(-amp, amp), 0, 255))
                 for c in color)


def _rot_rect(img, center, w, h, angle, color):
    box = cv2.boxPoints(((float(center[0]), float(center[1])),
                         (float(w), float(h)), float(angle)))
    cv2.fillConvexPoly(img, np.round(box).astype(np.int32), color,
                       lineType=cv2.LINE_AA)


def _airplane(img, rng, center, span, angle, color):
    t = np.deg2rad(angle)
    d = np.array([np.cos(t), np.sin(t)])
    c = np.asarray(center, np.float64)
    _rot_rect(img, c, span, span * 0.16, angle, color)            # fuselage
    _rot_rect(img, c + d * span * 0.05, span * 0.16, span * 0.95,
              angle, color)                                         # wings
    _rot_rect(img, c - d * span * 0.42, span * 0.1, span * 0.38,
              angle, color)                                         # tail


def _ship(img, center, length, angle, color):
    cv2.ellipse(img, (int(center[0]), int(center[1])),
                (int(length / 2), max(1, int(length / 7))), angle, 0, 360,
                color, -1, lineType=cv2.LINE_AA)


def _vehicles(img, rng, n, size):
    for _ in range(n):
        c = rng.uniform(0, size, 2)
        _rot_rect(img, c, size * 0.03, size * 0.015, rng.uniform(0, 180),
                  _jitter(rng, (rng.uniform(40, 230),) * 3, 30))


def _trees(img, rng, n, size, rmin, rmax):
    for _ in range(n):
        c = rng.uniform(0, size, 2).astype(int)
        r = int(rng.uniform(rmin, rmax) * size)
        g = rng.uniform(60, 130)
        cv2.circle(img, (int(c[0]), int(c[1])), max(1, r),
                   (g * 0.45, g, g * 0.55), -1, lineType=cv2.LINE_AA)


def _airfield(rng, s):
    img = _texture(rng, s, _jitter(rng, (95, 125, 115), 25), 14, 8)
    ang = rng.uniform(0, 180)
    _rot_rect(img, (s / 2 + rng.uniform(-s / 6, s / 6), s / 2), s * 1.6,
              s * rng.uniform(0.12, 0.2), ang, _jitter(rng, (95, 95, 95)))
    if rng.rand() < 0.5:  # taxiway
        _rot_rect(img, rng.uniform(s * 0.3, s * 0.7, 2), s * 1.2, s * 0.05,
                  ang + rng.choice([0, 90]), _jitter(rng, (110, 110, 110)))
    for _ in range(rng.randint(1, 4)):
        _airplane(img, rng, rng.uniform(s * 0.2, s * 0.8, 2),
                  s * rng.uniform(0.18, 0.32), rng.uniform(0, 360),
                  _jitter(rng, (215, 215, 215), 25))
    _vehicles(img, rng, rng.randint(0, 4), s)
    return img


def _harbour(rng, s):
    img = _texture(rng, s, _jitter(rng, (120, 120, 115), 20), 12, 8)
    shore = int(s * rng.uniform(0.3, 0.6))
    water = _texture(rng, s, _jitter(rng, (105, 80, 40), 20), 8, 4)
    img[:, shore:] = water[:, shore:]
    for _ in range(rng.randint(1, 4)):  # piers
        y = rng.uniform(s * 0.1, s * 0.9)
        length = s * rng.uniform(0.15, 0.35)
        _rot_rect(img, (shore + length / 2, y), length, s * 0.04, 0,
                  _jitter(rng, (150, 150, 150)))
    for _ in range(rng.randint(1, 5)):
        x = rng.uniform(shore + s * 0.08, s * 0.95)
        _ship(img, (x, rng.uniform(s * 0.05, s * 0.95)),
              s * rng.uniform(0.1, 0.25), rng.uniform(-30, 30),
              _jitter(rng, (200, 200, 200), 40))
    _vehicles(img, rng, rng.randint(0, 5), shore)
    return img


def _storage_tanks(rng, s):
    img = _texture(rng, s, _jitter(rng, (125, 125, 120), 25), 12, 8)
    r = s * rng.uniform(0.06, 0.11)
    n = rng.randint(2, 5)
    origin = rng.uniform(s * 0.15, s * 0.45, 2)
    step = r * rng.uniform(2.3, 3.0)
    for i in range(n):
        for j in range(rng.randint(1, 4)):
            cx, cy = origin + np.array([i, j]) * step
            if rng.rand() < 0.15:
                continue
            cv2.circle(img, (int(cx + r * 0.3), int(cy + r * 0.3)), int(r),
                       (60, 60, 60), -1, lineType=cv2.LINE_AA)  # shadow
            cv2.circle(img, (int(cx), int(cy)), int(r),
                       _jitter(rng, (220, 220, 215), 25), -1,
                       lineType=cv2.LINE_AA)
    _rot_rect(img, (s / 2, rng.uniform(0, s)), s * 1.5, s * 0.05,
              rng.uniform(0, 180), _jitter(rng, (95, 95, 95)))
    return img


def _forest(rng, s):
    img = _texture(rng, s, _jitter(rng, (45, 85, 55), 15), 18, 6)
    _trees(img, rng, rng.randint(80, 160), s, 0.02, 0.06)
    if rng.rand() < 0.3:  # a track through the forest
        _rot_rect(img, (s / 2, s / 2), s * 1.5, s * 0.04,
                  rng.uniform(0, 180), _jitter(rng, (110, 130, 140)))
    return img


def _farmland(rng, s):
    img = _texture(rng, s, _jitter(rng, (70, 120, 110), 20), 10, 8)
    palette = [(60, 140, 90), (70, 120, 150), (50, 110, 70), (90, 160, 170),
               (80, 130, 120)]
    k = rng.randint(2, 4)
    cuts = np.sort(rng.uniform(0.2, 0.8, k - 1)) * s
    edges = np.concatenate([[0], cuts, [s]]).astype(int)
    for a, b in zip(edges[:-1], edges[1:]):
        col = np.array(_jitter(rng, palette[rng.randint(len(palette))], 15))
        period = max(2, int(s * rng.uniform(0.03, 0.08)))
        stripes = (np.arange(s) // period % 2)[:, None] * 18.0
        patch = col[None, None, :] + stripes[..., None] \
            + rng.randn(s, b - a, 3) * 4
        img[:, a:b] = np.clip(patch[:, :b - a], 0, 255)
    _trees(img, rng, rng.randint(0, 12), s, 0.015, 0.03)
    return img


def _residential(rng, s):
    img = _texture(rng, s, _jitter(rng, (110, 125, 120), 20), 12, 8)
    block = s * rng.uniform(0.2, 0.32)
    road = _jitter(rng, (90, 90, 90))
    for k in range(-1, int(s / block) + 2):
        _rot_rect(img, (k * block, s / 2), s * 0.035, s * 2, 0, road)
        _rot_rect(img, (s / 2, k * block), s * 2, s * 0.035, 0, road)
    roofs = [(60, 70, 170), (80, 90, 140), (150, 150, 160), (70, 110, 180)]
    hs = block * rng.uniform(0.22, 0.32)
    for bx in range(-1, int(s / block) + 1):
        for by in range(-1, int(s / block) + 1):
            for (u, v) in ((0.3, 0.3), (0.7, 0.3), (0.3, 0.7), (0.7, 0.7)):
                if rng.rand() < 0.2:
                    continue
                c = ((bx + u) * block, (by + v) * block)
                _rot_rect(img, c, hs, hs * rng.uniform(0.7, 1.3), 0,
                          _jitter(rng, roofs[rng.randint(len(roofs))], 20))
    _trees(img, rng, rng.randint(0, 20), s, 0.015, 0.03)
    return img


DRAWERS: Dict[str, Callable] = {
    'airfield': _airfield, 'harbour': _harbour,
    'storage_tanks': _storage_tanks, 'forest': _forest,
    'farmland': _farmland, 'residential': _residential,
}


def draw_scene(cls: str, rng: np.random.RandomState, size: int) -> np.ndarray:
    """Draw one ``size`` x ``size`` BGR uint8 scene of class ``cls``."""
    big = size * 2
    img = DRAWERS[cls](rng, big)
    # Random orientation: rotate about the centre, flip, then downsample.
    m = cv2.getRotationMatrix2D((big / 2, big / 2), rng.uniform(0, 360),
                                rng.uniform(1.0, 1.25))
    img = cv2.warpAffine(img, m, (big, big), borderMode=cv2.BORDER_REFLECT)
    if rng.rand() < 0.5:
        img = img[:, ::-1]
    if rng.rand() < 0.5:
        img = img[::-1]
    img = cv2.resize(np.ascontiguousarray(img), (size, size),
                     interpolation=cv2.INTER_AREA)
    # Illumination and sensor noise.
    img = img * rng.uniform(0.75, 1.25) + rng.uniform(-20, 20)
    img = img + rng.randn(*img.shape) * rng.uniform(3, 10)
    return np.clip(img, 0, 255).astype(np.uint8)


def make_demo_scenes(out_dir: str,
                     per_class: int = 80,
                     size: int = 64,
                     seed: int = 0,
                     classes: Optional[tuple] = None) -> str:
    """Write ``per_class`` PNG scenes of every class under ``out_dir``.

    Returns ``out_dir``. Existing files are overwritten.
    """
    classes = classes or CLASSES
    unknown = [c for c in classes if c not in DRAWERS]
    if unknown:
        raise ValueError(f'Unknown demo class(es) {unknown}; available: '
                         f'{list(DRAWERS)}')
    for ci, cls in enumerate(classes):
        folder = osp.join(out_dir, cls)
        os.makedirs(folder, exist_ok=True)
        rng = np.random.RandomState([seed, ci])
        for i in range(per_class):
            cv2.imwrite(osp.join(folder, f'{cls}_{i:04d}.png'),
                        draw_scene(cls, rng, size))
    return out_dir
