import os
import os.path as osp
import sys


def _share_the_cores() -> None:
    """Under pytest-xdist, give each worker (and the tools it starts in
    subprocesses, which inherit the environment) its share of the cores.
    Left alone, every worker's PyTorch and OpenMP take all cores, so on 2
    cores 2 workers run 4 busy threads that wait on each other at every
    parallel region: the 2-iteration trainings of test_every_config_e2e
    took twice as long (109 s against 55 s for 12 configs, 2 workers, 2
    cores). A value set by the user wins."""
    workers = int(os.environ.get('PYTEST_XDIST_WORKER_COUNT', '1'))
    if workers < 2:
        return
    cores = len(os.sched_getaffinity(0)) if hasattr(
        os, 'sched_getaffinity') else (os.cpu_count() or 1)
    threads = max(1, cores // workers)
    if 'OMP_NUM_THREADS' in os.environ:
        return
    for var in ('OMP_NUM_THREADS', 'MKL_NUM_THREADS', 'OPENBLAS_NUM_THREADS'):
        os.environ.setdefault(var, str(threads))
    import torch
    torch.set_num_threads(threads)


_share_the_cores()

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

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
