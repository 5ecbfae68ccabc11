"""Evaluation: the DOTA Task2 protocol (the devkit's rules) and putting
patch detections back on their full images."""
from .dota_task2 import (AnnotationDirError, Task2GroundTruth,
                         evaluate_task2, load_task2_ground_truth, task2_map,
                         voc07_ap, write_task2_files)
from .dota_task2_metric import DOTATask2Metric
from .patch_merge import merge_patch_detections, parse_patch_name

__all__ = [
    'AnnotationDirError', 'Task2GroundTruth', 'evaluate_task2',
    'load_task2_ground_truth', 'task2_map', 'voc07_ap', 'write_task2_files',
    'DOTATask2Metric', 'merge_patch_detections', 'parse_patch_name'
]
