import numpy as np
import pytest

from mmrskd.testing import DEMO_SCENE_CLASSES, draw_scene, make_demo_scenes
from mmrskd.datasets import RSSceneDataset


def test_same_seed_same_pixels():
    a = draw_scene('harbour', np.random.RandomState(3), 48)
    b = draw_scene('harbour', np.random.RandomState(3), 48)
    c = draw_scene('harbour', np.random.RandomState(4), 48)
    assert a.shape == (48, 48, 3) and a.dtype == np.uint8
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_layout_is_a_scene_dataset(tmp_path):
    root = make_demo_scenes(str(tmp_path / 's'), per_class=5, size=32)
    ds = RSSceneDataset(root, split='train', train_ratio=0.6)
    assert set(ds.metainfo['classes']) == set(DEMO_SCENE_CLASSES)
    assert len(ds) == 3 * len(DEMO_SCENE_CLASSES)


def test_classes_differ_in_appearance():
    # Mean colour alone must not be constant across classes (learnable),
    # and images of one class must vary (not trivial copies).
    rng = np.random.RandomState(0)
    means = {c: np.mean([draw_scene(c, rng, 32).mean((0, 1))
                         for _ in range(8)], 0) for c in DEMO_SCENE_CLASSES}
    assert np.ptp(np.stack(list(means.values())), 0).max() > 10
    imgs = [draw_scene('forest', rng, 32).astype(float) for _ in range(2)]
    assert np.abs(imgs[0] - imgs[1]).mean() > 5


def test_unknown_class():
    with pytest.raises(ValueError, match='Unknown demo class'):
        make_demo_scenes('/tmp/unused', classes=('volcano', ))
