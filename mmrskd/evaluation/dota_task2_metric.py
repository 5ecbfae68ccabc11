"""The official DOTA Task2 mAP from the test / val loop of a patch set."""
import os.path as osp
from typing import Dict, List, Optional, Sequence

from mmdet.registry import METRICS
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger

from .dota_task2 import check_ann_dir, evaluate_task2, write_task2_files
from .patch_merge import merge_patch_detections


@METRICS.register_module()
class DOTATask2Metric(BaseMetric):
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

    default_prefix: Optional[str] = 'dota'

    def __init__(self, ann_dir: Optional[str] = None, iou_thr: float = 0.5,
                 nms_iou_thr: float = 0.5, classwise: bool = False,
                 task2_dir: Optional[str] = None, format_only: bool = False,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        if format_only and not task2_dir:
            raise ValueError('DOTATask2Metric: format_only=True needs '
                             'task2_dir, the folder for the Task2 files.')
        if not format_only:
            check_ann_dir(str(ann_dir))
        self.ann_dir = ann_dir
        self.iou_thr = iou_thr
        self.nms_iou_thr = nms_iou_thr
        self.classwise = classwise
        self.task2_dir = task2_dir
        self.format_only = format_only

    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        """Keep ``(patch name, boxes, scores, labels)`` of each sample, boxes
        in the pixels of the patch as loaded."""
        for sample in data_samples:
            pred = sample['pred_instances']
            self.results.append((
                osp.basename(sample['img_path']),
                pred['bboxes'].cpu().numpy(), pred['scores'].cpu().numpy(),
                pred['labels'].cpu().numpy()))

    def compute_metrics(self, results: List[tuple]) -> Dict[str, float]:
        """Merge the patches, write the Task2 files if asked, score."""
        logger = MMLogger.get_current_instance()
        classes = tuple(self.dataset_meta['classes'])
        merged = merge_patch_detections(results, self.nms_iou_thr,
                                        allow_full_images=True)
        if self.task2_dir:
            write_task2_files(self.task2_dir, merged, classes)
            logger.info(f'DOTA Task2 files of {len(merged)} images written '
                        f'to {self.task2_dir}')
        if self.format_only:
            return {}
        mean_ap, per_class = evaluate_task2(merged, self.ann_dir, classes,
                                            self.iou_thr)
        logger.info(self._summary(per_class, mean_ap, len(merged),
                                  len(results)))
        out = {'mAP': mean_ap}
        if self.classwise:
            out.update({f'{name}_AP': ap for name, ap in per_class.items()})
        return out

    def _summary(self, per_class: Dict[str, float], mean_ap: float,
                 n_images: int, n_patches: int) -> str:
        width = max(len(name) for name in per_class)
        rows = [f'  {name:<{width}}  {ap * 100:6.2f}'
                for name, ap in per_class.items()]
        return '\n'.join([
            f'DOTA Task2 AP (devkit rules, VOC07 11-point, IoU > '
            f'{self.iou_thr:g}) on {n_images} full images from {n_patches} '
            f'patches, ground truth {self.ann_dir}:', *rows,
            f'  {"mAP":<{width}}  {mean_ap * 100:6.2f}'])
