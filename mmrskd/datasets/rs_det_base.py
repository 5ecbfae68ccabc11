"""Shared parts of the remote-sensing detection datasets (mmdet); their
image files are found and measured by :mod:`.image_files`."""
from typing import List, Sequence

from mmdet.datasets import BaseDetDataset


def clip_box(box: Sequence[float], width: int,
             height: int) -> List[float]:
    x1, y1, x2, y2 = box
    return [min(max(x1, 0.), width), min(max(y1, 0.), height),
            min(max(x2, 0.), width), min(max(y2, 0.), height)]


class RSDetDataset(BaseDetDataset):
    """``BaseDetDataset`` with the usual ``filter_cfg`` behaviour
    (``filter_empty_gt`` counts only instances that are not ignored,
    ``min_size`` on the image's shorter side)."""

    def filter_data(self) -> List[dict]:
        if self.test_mode or not self.filter_cfg:
            return self.data_list
        empty = self.filter_cfg.get('filter_empty_gt', False)
        min_size = self.filter_cfg.get('min_size', 0)
        return [
            d for d in self.data_list
            if min(d['width'], d['height']) >= min_size and not (
                empty and not any(not i['ignore_flag']
                                  for i in d['instances']))
        ]
