"""Synthetic data generators for the demo, the tests and the benchmarks."""
from .batches import cls_batch, det_batch
from .demo_scenes import CLASSES as DEMO_SCENE_CLASSES
from .demo_scenes import draw_scene, make_demo_scenes

__all__ = ['DEMO_SCENE_CLASSES', 'cls_batch', 'det_batch', 'draw_scene',
           'make_demo_scenes']
