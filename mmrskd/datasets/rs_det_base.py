"""Shared parts of the remote-sensing detection datasets (mmdet)."""
import os.path as osp
from typing import List, Optional, Sequence, Tuple

from mmdet.datasets import BaseDetDataset
from PIL import Image

IMG_SUFFIXES = ('.png', '.jpg', '.jpeg', '.tif', '.tiff', '.bmp')


def image_size(path: str) -> Tuple[int, int]:
    """``(width, height)`` from the image header (no full decode)."""
    try:
        with Image.open(path) as img:
            return img.size
    except Exception as exc:  # noqa: BLE001
        raise RuntimeError(f'Cannot read image "{path}": {exc}') from exc


def find_image(folder: str, stem: str,
               suffixes: Sequence[str] = IMG_SUFFIXES) -> Optional[str]:
    """The image ``folder/stem.<suffix>`` with any known suffix."""
    for suffix in suffixes:
        for cand in (stem + suffix, stem + suffix.upper()):
            path = osp.join(folder, cand)
            if osp.isfile(path):
                return path
    return None


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
