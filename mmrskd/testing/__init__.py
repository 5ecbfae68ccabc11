"""Synthetic data generators for the demo, the tests and the benchmarks."""
from .batches import cls_batch, det_batch
from .checkpoints import build_config_model, save_runner_checkpoint
from .demo_scenes import CLASSES as DEMO_SCENE_CLASSES
from .demo_scenes import draw_scene, make_demo_scenes
from .layouts import (SCENE_SETS, write_airbus, write_dota, write_nwpu_vhr10,
                      write_scene_set)

__all__ = ['DEMO_SCENE_CLASSES', 'SCENE_SETS', 'build_config_model',
           'cls_batch', 'det_batch', 'draw_scene', 'make_demo_scenes',
           'save_runner_checkpoint', 'write_airbus', 'write_dota',
           'write_nwpu_vhr10', 'write_scene_set']
