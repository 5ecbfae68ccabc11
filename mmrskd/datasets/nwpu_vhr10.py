"""NWPU VHR-10 (Cheng et al., ISPRS 2014) for mmdet."""
import glob
import os.path as osp
import re
from typing import List

from mmdet.registry import DATASETS

from ..utils.path_hint import stripped_spaces_hint
from .image_files import find_image, image_size, list_images
from .rs_det_base import RSDetDataset, clip_box
from .split import check_train_ratio, seeded_split

_LINE = re.compile(r'^\(\s*([-\d.]+)\s*,\s*([-\d.]+)\s*\)\s*,\s*'
                   r'\(\s*([-\d.]+)\s*,\s*([-\d.]+)\s*\)\s*,\s*(\d+)\s*$')


@DATASETS.register_module()
class NWPUVHR10Dataset(RSDetDataset):
    """NWPU VHR-10 as it ships: ``positive image set/*.jpg``,
    ``ground truth/*.txt`` with ``(x1,y1),(x2,y2),class_id`` lines (ids
    1-10), and optionally ``negative image set/*.jpg`` (no objects).

    The split is a seeded permutation of the sorted image names, identical
    on every machine: ``train_ratio`` of the positive images (and of the
    negatives, when ``with_negatives``) go to ``split='train'``.

    Args:
        data_root: the ``NWPU VHR-10 dataset`` folder.
        split: ``'train'`` or ``'test'``.
        train_ratio: share of images for training, in (0, 1).
        split_seed: seed of the split.
        with_negatives: also use the negative image set.
    """

    METAINFO = dict(classes=(
        'airplane', 'ship', 'storage tank', 'baseball diamond',
        'tennis court', 'basketball court', 'ground track field', 'harbor',
        'bridge', 'vehicle'), palette=None)
    #: Folder names of the official archive (all with spaces).
    OFFICIAL_FOLDERS = ('NWPU VHR-10 dataset', 'ground truth',
                        'positive image set', 'negative image set')

    def __init__(self, *args, split: str = 'train', train_ratio: float = 0.7,
                 split_seed: int = 0, with_negatives: bool = False,
                 ann_file: str = 'ground truth/', data_prefix=None,
                 **kwargs):
        if split not in ('train', 'test'):
            raise ValueError(f"NWPUVHR10Dataset: split must be 'train' or "
                             f"'test', got {split!r}.")
        check_train_ratio(train_ratio)
        self.split = split
        self.train_ratio = train_ratio
        self.split_seed = split_seed
        self.with_negatives = with_negatives
        kwargs.setdefault('test_mode', split == 'test')
        super().__init__(
            *args, ann_file=ann_file,
            data_prefix=data_prefix or dict(img='positive image set/'),
            **kwargs)

    def _part(self, names: List[str]) -> List[str]:
        """This split's share of ``names`` (:func:`.split.seeded_split`
        with the int seed ``split_seed``)."""
        train, test = seeded_split(
            names, int(round(len(names) * self.train_ratio)), self.split_seed)
        return train if self.split == 'train' else test

    def load_data_list(self) -> List[dict]:
        gt_dir, img_dir = self.ann_file, self.data_prefix['img']
        if not osp.isdir(gt_dir):
            raise FileNotFoundError(
                f'NWPU VHR-10 ground-truth folder "{gt_dir}" does not exist '
                '(expected data_root/"ground truth"/ and data_root/'
                '"positive image set"/).' + stripped_spaces_hint(
                    gt_dir, self.OFFICIAL_FOLDERS))
        n = len(self.metainfo['classes'])
        data_list = []
        stems = [osp.splitext(osp.basename(p))[0]
                 for p in glob.glob(osp.join(gt_dir, '*.txt'))]
        part = self._part(stems)
        if not part:
            raise ValueError(
                f'NWPUVHR10Dataset: the {self.split!r} split of the '
                f'{len(stems)} annotated image(s) in "{gt_dir}" is empty '
                f'(train_ratio={self.train_ratio}).')
        for stem in part:
            txt = osp.join(gt_dir, stem + '.txt')
            img_path = find_image(img_dir, stem)
            if img_path is None:
                raise FileNotFoundError(
                    f'No image for "{txt}" in "{img_dir}".')
            width, height = image_size(img_path)
            instances = []
            with open(txt) as f:
                for lineno, line in enumerate(f, 1):
                    if not line.strip():
                        continue
                    m = _LINE.match(line.strip())
                    if m is None or not 1 <= int(m.group(5)) <= n:
                        raise ValueError(
                            f'{txt}, line {lineno}: expected '
                            f'"(x1,y1),(x2,y2),class_id" with class_id in '
                            f'1..{n}, got {line.strip()!r}.')
                    box = clip_box([float(m.group(i)) for i in range(1, 5)],
                                   width, height)
                    if box[2] <= box[0] or box[3] <= box[1]:
                        continue
                    instances.append(dict(bbox=box,
                                          bbox_label=int(m.group(5)) - 1,
                                          ignore_flag=0))
            data_list.append(dict(img_path=img_path, img_id=stem,
                                  width=width, height=height,
                                  instances=instances))
        if self.with_negatives:
            neg_dir = osp.join(self.data_root, 'negative image set')
            negs = list_images(neg_dir) if osp.isdir(neg_dir) else []
            for name in self._part(negs):
                path = osp.join(neg_dir, name)
                width, height = image_size(path)
                data_list.append(dict(img_path=path,
                                      img_id='neg_' + osp.splitext(name)[0],
                                      width=width, height=height,
                                      instances=[]))
        return data_list
