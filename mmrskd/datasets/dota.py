"""DOTA with horizontal boxes for mmdet (Xia et al., CVPR 2018)."""
import glob
import os.path as osp
import warnings
from typing import List, Tuple

from mmdet.registry import DATASETS
from mmengine.logging import MMLogger

from ..utils.path_hint import stripped_spaces_hint
from .dota_labels import DOTA_V1_CLASSES, DOTA_V15_CLASSES, parse_dota_file
from .image_files import find_image, image_size
from .rs_det_base import RSDetDataset, clip_box


@DATASETS.register_module()
class DOTADataset(RSDetDataset):
    """DOTA v1.0 / v1.5 images with their labelTxt files, horizontal boxes.

    Built like mmdet's datasets::

        dict(type='DOTADataset', data_root='data/DOTA/train',
             ann_file='labelTxt/', data_prefix=dict(img='images/'))

    Each object's box is the axis-aligned extent of its polygon, clipped to
    the image. Difficult objects are kept with ``ignore_flag=1``, so they
    count neither as misses nor as false positives. Polygons of zero area
    (or boxes that vanish when clipped) are skipped and counted in a
    warning. Malformed lines are an error naming file and line.

    Args:
        version: ``'1.0'`` (15 classes) or ``'1.5'`` (adds container-crane).
        **kwargs: mmdet ``BaseDetDataset`` arguments.
    """

    METAINFO = dict(classes=DOTA_V1_CLASSES, palette=None)

    def __init__(self, *args, version: str = '1.0', **kwargs):
        if version not in ('1.0', '1.5'):
            raise ValueError(f"DOTADataset: version must be '1.0' or '1.5', "
                             f'got {version!r}.')
        self.version = version
        if version == '1.5':
            metainfo = dict(kwargs.pop('metainfo', None) or {})
            metainfo.setdefault('classes', DOTA_V15_CLASSES)
            kwargs['metainfo'] = metainfo
        super().__init__(*args, **kwargs)

    def load_data_list(self) -> List[dict]:
        classes = self.metainfo['classes']
        cat = {c: i for i, c in enumerate(classes)}
        data_list, degenerate = [], 0
        for txt, stem, img_path in dota_label_files(
                self.ann_file, self.data_prefix.get('img', ''),
                'DOTADataset'):
            width, height = image_size(img_path)
            ann = parse_dota_file(txt, classes)
            instances = []
            for obj in ann.objects:
                box = clip_box(obj.hbox(), width, height)
                if obj.area() <= 0 or box[2] <= box[0] or box[3] <= box[1]:
                    degenerate += 1
                    continue
                instances.append(dict(bbox=box, bbox_label=cat[obj.category],
                                      ignore_flag=int(obj.difficult)))
            data_list.append(dict(img_path=img_path, img_id=stem,
                                  width=width, height=height,
                                  instances=instances))
        warn_degenerate(degenerate, self.ann_file, 'DOTADataset')
        self.num_degenerate = degenerate
        return data_list


def dota_label_files(ann_dir: str, img_dir: str,
                     dataset: str) -> List[Tuple[str, str, str]]:
    """``(labelTxt file, image id, image path)`` of every ``*.txt`` in
    ``ann_dir``, sorted; the errors name a missing folder, an annotation
    without its image and a folder without annotations (``dataset``: the
    class name the last one starts with)."""
    if not osp.isdir(ann_dir):
        raise FileNotFoundError(
            f'DOTA annotation folder "{ann_dir}" does not exist (expected '
            'data_root/labelTxt/ with one .txt per image).' +
            stripped_spaces_hint(ann_dir))
    files = []
    for txt in sorted(glob.glob(osp.join(ann_dir, '*.txt'))):
        stem = osp.splitext(osp.basename(txt))[0]
        img_path = find_image(img_dir, stem)
        if img_path is None:
            raise FileNotFoundError(
                f'No image for annotation "{txt}" in "{img_dir}".')
        files.append((txt, stem, img_path))
    if not files:
        raise ValueError(f'{dataset}: no annotation file (*.txt) in '
                         f'"{ann_dir}".')
    return files


def warn_degenerate(count: int, ann_dir: str, dataset: str) -> None:
    """Log and warn that ``count`` objects of zero area were skipped."""
    if count:
        msg = (f'{dataset}: skipped {count} object(s) of zero area under '
               f'"{ann_dir}".')
        MMLogger.get_current_instance().warning(msg)
        warnings.warn(msg)
