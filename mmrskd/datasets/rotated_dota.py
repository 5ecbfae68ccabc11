"""DOTA with oriented boxes for mmrotate (the optional extra ``rotated``).

Not imported by ``import mmrskd`` (mmrotate's dataset package prints a line
when it is imported, and the extra may be missing): the rotated configs
name this module in their ``custom_imports``.
"""
import os.path as osp
from typing import List

from ..utils.extras import require_mmrotate

require_mmrotate('mmrskd.datasets.rotated_dota')

from mmrotate.datasets import DOTADataset as MMRotateDOTADataset  # noqa: E402
from mmrotate.registry import DATASETS  # noqa: E402

from .dota import dota_label_files, warn_degenerate  # noqa: E402
from .dota_labels import parse_dota_file  # noqa: E402


@DATASETS.register_module()
class RotatedDOTADataset(MMRotateDOTADataset):
    """mmrotate's ``DOTADataset`` reading the labelTxt files as mmrskd's
    (horizontal) ``DOTADataset`` does.

    mmrotate's reader takes every line for an object, so the
    ``imagesource:`` / ``gsd:`` header of the DOTA files (kept in the
    patches ``dota_split.py`` writes) fails it, and so does a missing
    difficult flag. This one parses with
    :func:`~mmrskd.datasets.dota_labels.parse_dota_file`: header skipped,
    difficult flag 0 when missing, a malformed line named by file and line;
    it finds images of any known extension (``img_suffix`` is not needed)
    and skips polygons of zero area with a warning (their boxes of zero
    width would give infinite regression targets). Built like mmrotate's::

        dict(type='RotatedDOTADataset', data_root='data/DOTA_split/',
             ann_file='train/labelTxt/',
             data_prefix=dict(img_path='train/images/'))

    Each object's ``bbox`` is its polygon (8 numbers, for mmdet's
    ``LoadAnnotations(box_type='qbox')``); ``ignore_flag`` is set when its
    difficult flag exceeds ``diff_thr`` (mmrotate's rule: the default 100
    keeps the difficult objects, 0 ignores them as the DOTA devkit's
    evaluation does). An empty ``ann_file`` lists the images alone (a test
    set without labels), as mmrotate's does.
    """

    def load_data_list(self) -> List[dict]:
        if self.ann_file == '':
            return super().load_data_list()
        classes = self.metainfo['classes']
        cat = {c: i for i, c in enumerate(classes)}
        data_list, degenerate = [], 0
        for txt, stem, img_path in dota_label_files(
                self.ann_file, self.data_prefix.get('img_path', ''),
                type(self).__name__):
            instances = []
            for obj in parse_dota_file(txt, classes).objects:
                if obj.area() <= 0:
                    degenerate += 1
                    continue
                instances.append(dict(
                    bbox=list(obj.poly), bbox_label=cat[obj.category],
                    ignore_flag=int(int(obj.difficult) > self.diff_thr)))
            data_list.append(dict(img_id=stem, img_path=img_path,
                                  file_name=osp.basename(img_path),
                                  instances=instances))
        warn_degenerate(degenerate, self.ann_file, type(self).__name__)
        return data_list
