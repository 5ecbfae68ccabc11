"""What DOTATask1Metric and DOTATask2Metric share: the patch predictions of
the test / val loop merged back on their full images, the submission files
written, the full images scored by the DOTA devkit's rules."""
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger

from .dota_task2 import (Task2GroundTruth, check_ann_dir,
                         classes_without_positives)
from .patch_merge import ImageDetections


class DOTAFullImageMetric(BaseMetric):
    """Base of the official DOTA metrics on full images (not registered).

    A subclass sets :attr:`task` (``'Task1'`` / ``'Task2'``) and implements
    :meth:`merge`, :meth:`write_files`, :meth:`ground_truth` and
    :meth:`score`. ``out_dir`` is the
    subclass's ``task1_dir`` / ``task2_dir``; the other arguments are
    documented there.
    """

    default_prefix: Optional[str] = 'dota'
    #: the DOTA task, in messages and in the submission files' names
    task: str = ''

    def __init__(self, ann_dir: Optional[str], iou_thr: float,
                 nms_iou_thr: float, classwise: bool, out_dir: Optional[str],
                 format_only: bool, collect_device: str,
                 prefix: Optional[str]) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        if format_only and not out_dir:
            raise ValueError(
                f'{type(self).__name__}: format_only=True needs '
                f'{self.task.lower()}_dir, the folder for the {self.task} '
                'files.')
        if not format_only:
            check_ann_dir(str(ann_dir), self.task)
        self.ann_dir = ann_dir
        self.iou_thr = iou_thr
        self.nms_iou_thr = nms_iou_thr
        self.classwise = classwise
        self.out_dir = out_dir
        self.format_only = format_only

    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        """Keep ``(patch name, boxes, scores, labels)`` of each sample, boxes
        in the pixels of the patch as loaded (a tensor or mmdet / mmrotate
        box structure)."""
        for sample in data_samples:
            pred = sample['pred_instances']
            self.results.append((
                osp.basename(sample['img_path']),
                pred['bboxes'].cpu().numpy(), pred['scores'].cpu().numpy(),
                pred['labels'].cpu().numpy()))

    def merge(self, results: List[tuple]) -> ImageDetections:
        """The full images' detections from the patches'."""
        raise NotImplementedError

    def write_files(self, merged: ImageDetections,
                    classes: Tuple[str, ...]) -> None:
        """The submission files of ``merged`` in ``self.out_dir``."""
        raise NotImplementedError

    def ground_truth(self, merged: ImageDetections, classes: Tuple[str, ...]
                     ) -> Dict[str, Task2GroundTruth]:
        """The ground truth of the images of ``merged`` in ``ann_dir``."""
        raise NotImplementedError

    def score(self, merged: ImageDetections,
              gts: Dict[str, Task2GroundTruth], classes: Tuple[str, ...]
              ) -> Tuple[float, Dict[str, float]]:
        """mAP and per-class APs of ``merged`` against ``gts``."""
        raise NotImplementedError

    def compute_metrics(self, results: List[tuple]) -> Dict[str, float]:
        """Merge the patches, write the submission files if asked, score."""
        logger = MMLogger.get_current_instance()
        classes = tuple(self.dataset_meta['classes'])
        merged = self.merge(results)
        if self.out_dir:
            self.write_files(merged, classes)
            logger.info(f'DOTA {self.task} files of {len(merged)} images '
                        f'written to {self.out_dir}')
        if self.format_only:
            return {}
        gts = self.ground_truth(merged, classes)  # read once, used twice
        mean_ap, per_class = self.score(merged, gts, classes)
        logger.info(self._summary(per_class, mean_ap, len(merged),
                                  len(results)))
        absent = self._absent_note(gts, classes, per_class)
        if absent:
            logger.info(absent)
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
            f'DOTA {self.task} AP (devkit rules, VOC07 11-point, IoU > '
            f'{self.iou_thr:g}) on {n_images} full images from {n_patches} '
            f'patches, ground truth {self.ann_dir}:', *rows,
            f'  {"mAP":<{width}}  {mean_ap * 100:6.2f}'])

    def _absent_note(self, gts: Dict[str, Task2GroundTruth],
                     classes: Tuple[str, ...],
                     per_class: Dict[str, float]) -> str:
        """A line naming the classes without a (non-difficult) object in the
        evaluated images, '' if there is none: on a subset of DOTA the
        devkit's mean over all the classes reads low because of them."""
        absent = classes_without_positives(gts, classes)
        if not absent:
            return ''
        present = [ap for name, ap in per_class.items() if name not in absent]
        mean_present = (f'{sum(present) / len(present) * 100:.2f}'
                        if present else 'undefined')
        return (f'DOTA {self.task}: {len(absent)} of {len(classes)} classes '
                f'have no object that counts (none, or only difficult ones) '
                f'in these {len(gts)} images and enter the mAP as AP 0, as '
                f'in the devkit: {", ".join(absent)}. The mean AP over the '
                f'other {len(present)} classes is {mean_present}.')
