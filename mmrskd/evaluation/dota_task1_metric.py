"""The official DOTA Task1 mAP (oriented boxes) from the test / val loop of
a patch set."""
from typing import Dict, List, Optional, Tuple

from mmdet.registry import METRICS

from .dota_full_image_metric import DOTAFullImageMetric
from .dota_task1 import (load_task1_ground_truth, merge_task1_patches,
                         task1_map, write_task1_files)
from .dota_task2 import Task2GroundTruth
from .patch_merge import ImageDetections


@METRICS.register_module()
class DOTATask1Metric(DOTAFullImageMetric):
    """DOTA Task1 (oriented boxes) mAP on the full images, by the DOTA
    devkit's rules (polygon IoU, VOC07 11-point AP,
    :mod:`mmrskd.evaluation.dota_task1`).

    The loop predicts oriented boxes (mmrotate's ``RotatedBoxes``, ``(cx,
    cy, w, h, angle)``) on the patches of ``dota_split.py``
    (``<image>__<rate>__<x0>___<y0>.png``); they are put back on their full
    images (shifted by the patch offset, divided by the rate) with a
    class-wise rotated NMS (as ``dota_merge.py`` does), turned into their
    corner polygons and scored against the full images' labelTxt polygons
    in ``ann_dir``. A sample whose name is not a patch name is taken as a
    full image. The images scored are those with at least one patch in the
    loop. Under DDP every rank's predictions are gathered first
    (``BaseMetric``).

    Registered in mmdet's registry (``import mmrskd`` does it, mmrotate is
    not needed): the rotated configs, in the ``mmrotate`` scope, name it
    ``type='mmdet.DOTATask1Metric'``.

    Results (0-1, like mmdet's ``VOCMetric``): ``dota/mAP``, and with
    ``classwise=True`` also ``dota/<class>_AP``.

    Args:
        ann_dir: labelTxt folder of the full (unsplit) images, e.g.
            ``data/DOTA/val/labelTxt/`` (oriented ground truth).
        iou_thr: polygon IoU a detection must exceed to match (devkit: 0.5).
        nms_iou_thr: rotated IoU threshold of the NMS that merges the
            patches (0.1: the devkit's ``ResultMerge`` and mmrotate's
            ``DOTAMetric``).
        classwise: also return the AP of each class.
        task1_dir: write the submission files ``Task1_<class>.txt`` there.
        format_only: only write ``task1_dir`` (e.g. for the test server,
            whose labels are not public); no ``ann_dir`` needed.
        collect_device: ``'cpu'`` or ``'gpu'``, to gather across ranks.
        prefix: key prefix, ``'dota'`` by default.
    """

    task = 'Task1'

    def __init__(self, ann_dir: Optional[str] = None, iou_thr: float = 0.5,
                 nms_iou_thr: float = 0.1, classwise: bool = False,
                 task1_dir: Optional[str] = None, format_only: bool = False,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(ann_dir, iou_thr, nms_iou_thr, classwise, task1_dir,
                         format_only, collect_device, prefix)

    def merge(self, results: List[tuple]) -> ImageDetections:
        """Oriented boxes back on the full images, class-wise rotated NMS,
        as polygons."""
        return merge_task1_patches(results, self.nms_iou_thr,
                                   allow_full_images=True)

    def write_files(self, merged: ImageDetections,
                    classes: Tuple[str, ...]) -> None:
        """``Task1_<class>.txt`` files in ``task1_dir``."""
        write_task1_files(self.out_dir, merged, classes)

    def ground_truth(self, merged: ImageDetections, classes: Tuple[str, ...]
                     ) -> Dict[str, Task2GroundTruth]:
        """The labelTxt polygons of the merged images."""
        return load_task1_ground_truth(str(self.ann_dir), sorted(merged),
                                       classes)

    def score(self, merged: ImageDetections,
              gts: Dict[str, Task2GroundTruth], classes: Tuple[str, ...]
              ) -> Tuple[float, Dict[str, float]]:
        """The devkit's Task1 mAP and APs."""
        return task1_map(merged, gts, classes, self.iou_thr)
