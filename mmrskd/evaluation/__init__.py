"""Evaluation: the DOTA Task1 and Task2 protocols (the devkit's rules) and
putting patch detections back on their full images."""
from .dota_task1 import (evaluate_task1, load_task1_ground_truth,
                         merge_task1_patches, poly_iou, rbox_to_poly,
                         task1_map, write_task1_files)
from .dota_task1_metric import DOTATask1Metric
from .dota_task2 import (AnnotationDirError, Task2GroundTruth,
                         evaluate_task2, load_task2_ground_truth, task2_map,
                         voc07_ap, write_task2_files)
from .dota_task2_metric import DOTATask2Metric
from .patch_merge import (merge_patch_detections,
                          merge_rotated_patch_detections, parse_patch_name)

__all__ = [
    'AnnotationDirError', 'Task2GroundTruth', 'evaluate_task2',
    'load_task2_ground_truth', 'task2_map', 'voc07_ap', 'write_task2_files',
    'DOTATask2Metric', 'merge_patch_detections', 'parse_patch_name',
    'evaluate_task1', 'load_task1_ground_truth', 'merge_task1_patches',
    'poly_iou', 'rbox_to_poly', 'task1_map', 'write_task1_files',
    'DOTATask1Metric', 'merge_rotated_patch_detections'
]
