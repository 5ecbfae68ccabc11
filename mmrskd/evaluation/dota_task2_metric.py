"""The official DOTA Task2 mAP from the test / val loop of a patch set."""
from typing import Dict, List, Optional, Tuple

from mmdet.registry import METRICS

from .dota_full_image_metric import DOTAFullImageMetric
from .dota_task2 import (Task2GroundTruth, load_task2_ground_truth,
                         task2_map, write_task2_files)
from .patch_merge import ImageDetections, merge_patch_detections


@METRICS.register_module()
class DOTATask2Metric(DOTAFullImageMetric):
    """DOTA Task2 (horizontal boxes) mAP on the full images, by the DOTA
    devkit's rules (VOC07 11-point AP, :mod:`mmrskd.evaluation.dota_task2`).

    The loop predicts on the patches of ``dota_split.py``
    (``<image>__<rate>__<x0>___<y0>.png``); the predictions are put back on
    their full images with a class-wise NMS (as ``dota_merge.py`` does) and
    scored against the full images' labelTxt files in ``ann_dir``. A sample
    whose name is not a patch name is taken as a full image. The images
    scored are those with at least one patch in the loop. Under DDP every
    rank's predictions are gathered first (``BaseMetric``), so the patches of
    one image may come from several ranks.

    Results (0-1, like mmdet's ``VOCMetric``): ``dota/mAP``, and with
    ``classwise=True`` also ``dota/<class>_AP``.

    Args:
        ann_dir: labelTxt folder of the full (unsplit) images, e.g.
            ``data/DOTA/val/labelTxt/``; oriented or Task2 ground truth.
        iou_thr: IoU a detection must exceed to match (devkit: 0.5).
        nms_iou_thr: IoU threshold of the NMS that merges the patches.
        classwise: also return the AP of each class.
        task2_dir: write the submission files ``Task2_<class>.txt`` there.
        format_only: only write ``task2_dir`` (e.g. for the test server,
            whose labels are not public); no ``ann_dir`` needed.
        collect_device: ``'cpu'`` or ``'gpu'``, to gather across ranks.
        prefix: key prefix, ``'dota'`` by default.
    """

    task = 'Task2'

    def __init__(self, ann_dir: Optional[str] = None, iou_thr: float = 0.5,
                 nms_iou_thr: float = 0.5, classwise: bool = False,
                 task2_dir: Optional[str] = None, format_only: bool = False,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(ann_dir, iou_thr, nms_iou_thr, classwise, task2_dir,
                         format_only, collect_device, prefix)

    def merge(self, results: List[tuple]) -> ImageDetections:
        """Boxes back on the full images, class-wise NMS."""
        return merge_patch_detections(results, self.nms_iou_thr,
                                      allow_full_images=True)

    def write_files(self, merged: ImageDetections,
                    classes: Tuple[str, ...]) -> None:
        """``Task2_<class>.txt`` files in ``task2_dir``."""
        write_task2_files(self.out_dir, merged, classes)

    def ground_truth(self, merged: ImageDetections, classes: Tuple[str, ...]
                     ) -> Dict[str, Task2GroundTruth]:
        """The labelTxt boxes of the merged images."""
        return load_task2_ground_truth(str(self.ann_dir), sorted(merged),
                                       classes)

    def score(self, merged: ImageDetections,
              gts: Dict[str, Task2GroundTruth], classes: Tuple[str, ...]
              ) -> Tuple[float, Dict[str, float]]:
        """The devkit's Task2 mAP and APs."""
        return task2_map(merged, gts, classes, self.iou_thr)
