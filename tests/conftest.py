import os
import os.path as osp
import sys

import cv2
import numpy as np
import pytest

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

SHARED_DATA = osp.join(osp.dirname(ROOT), 'shared', 'data')


def write_images(folder, n, size=16, seed=0, ext='.png'):
    """Write ``n`` random images into ``folder``; return their names."""
    os.makedirs(folder, exist_ok=True)
    rng = np.random.RandomState(seed)
    names = []
    for i in range(n):
        name = f'img_{i:03d}{ext}'
        cv2.imwrite(osp.join(folder, name),
                    rng.randint(0, 255, (size, size, 3), dtype=np.uint8))
        names.append(name)
    return names


def check_r18_student(teacher: str, student: str, dynkd: str) -> None:
    """Detection config ``student`` is ``teacher`` (its family's R50 config)
    with a ResNet-18 backbone and the neck's input channels to match,
    nothing else, and the family's dynamic-KD config ``dynkd`` distils
    exactly that model with the same data, schedule and runtime (its own
    hooks aside). Paths relative to the repository."""
    from mmengine.config import Config
    expected, got, distiller = (Config.fromfile(osp.join(ROOT, p)).to_dict()
                                for p in (teacher, student, dynkd))
    expected['model']['backbone']['depth'] = 18
    expected['model']['neck']['in_channels'] = [64, 128, 256, 512]
    assert got == expected
    assert distiller['model'].pop('student') == got['model']
    for key in set(got) | set(distiller):
        if key not in ('model', 'custom_hooks'):
            assert distiller[key] == got[key], key


@pytest.fixture
def make_scene_root(tmp_path):
    """Build a folder-per-class root: ``make_scene_root({'a': 5, 'b': 3})``."""

    def _make(counts, ext='.png', name='scenes'):
        root = tmp_path / name
        for i, (cls, n) in enumerate(counts.items()):
            folder = root / cls
            folder.mkdir(parents=True, exist_ok=True)
            write_images(str(folder), n, seed=i, ext=ext)
        return str(root)

    return _make


@pytest.fixture(scope='session')
def demo_scenes(tmp_path_factory):
    """A tiny generated demo-scene set shared by the end-to-end tests."""
    from mmrskd.testing import make_demo_scenes
    root = tmp_path_factory.mktemp('demo') / 'scenes'
    make_demo_scenes(str(root), per_class=8, size=32, seed=0)
    return str(root)
