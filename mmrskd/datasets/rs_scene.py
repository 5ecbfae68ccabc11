"""Remote-sensing scene-classification datasets (folder-per-class layout)."""
import os.path as osp
import warnings
from typing import Dict, List, Optional, Sequence

import mmcv
from mmengine.fileio import list_from_file
from mmengine.logging import MMLogger
from mmpretrain.datasets import BaseDataset
from mmpretrain.registry import DATASETS

from .image_files import IMG_EXTENSIONS
from .replay import ReplayMixin
from .split import (carve_validation, check_train_ratio, check_val_ratio,
                    list_class_folders, match_folders_to_classes,
                    normalize_class_name, stratified_split)


class CorruptImageError(RuntimeError):
    """An image file of a dataset cannot be decoded."""


@DATASETS.register_module()
class RSSceneDataset(ReplayMixin, BaseDataset):
    """Scene dataset in the folder-per-class layout of remote-sensing sets.

    ``<data_root>/<class folder>/<image>``. Subclasses fix the official class
    list in ``METAINFO``; folder names are matched to it ignoring case,
    spaces, underscores and hyphens. This generic class takes the class names
    from the sorted folder names.

    The train/test split is computed on the fly (stratified per class, see
    :func:`mmrskd.datasets.split.stratified_split`) unless ``ann_file`` gives
    an explicit list of ``<path relative to data_root> <label index or class
    name>`` lines, as written by ``tools/dataset_converters/make_split.py``.
    With ``val_ratio > 0`` a stratified validation split is carved out of
    the training share (``split='val'``; ``split='train'`` then excludes
    it) to select checkpoints on; the test split does not depend on
    ``val_ratio``.

    Args:
        data_root: folder that holds one sub-folder per class.
        split: ``'train'``, ``'val'`` (needs ``val_ratio > 0``) or
            ``'test'``.
        train_ratio: share of every class used for training (0.8 = the 8:2
            protocol, 0.5 = 5:5). Ignored when ``ann_file`` is given.
        val_ratio: share of every class (of the whole class) moved from the
            training share to the validation split, in ``[0, train_ratio)``;
            0 (default) = no validation split. Ignored when ``ann_file`` is
            given. Use the same value for the train and val datasets.
        split_seed: seed of the split. Defaults to 0.
        ann_file: optional split list; overrides ``split``'s on-the-fly split.
        on_corrupt: ``'error'`` (default) raises an error naming any image
            that cannot be decoded when it is loaded; ``'skip'`` decodes every
            image once at start-up and drops the broken ones with a warning.
        extensions: image file extensions to collect.
        allow_missing_classes: a class of ``METAINFO`` without a folder
            keeps its label index and gets no image (with a warning)
            instead of being an error; for subsets such as a DOTA crop set
            of a few images.
        **kwargs: other arguments of mmpretrain's ``BaseDataset``
            (``pipeline``, ``indices``, ``lazy_init``...).
    """

    METAINFO: dict = {}
    #: sub-folder of each class folder that holds the images when the class
    #: folder has none of its own (RSOD: ``JPEGImages``).
    IMAGE_SUBDIR: Optional[str] = None
    #: normalised folder name -> class name, for folders that do not carry
    #: the class name itself.
    FOLDER_ALIASES: Dict[str, str] = {}

    def __init__(self,
                 data_root: str,
                 split: str = 'train',
                 train_ratio: float = 0.8,
                 split_seed: int = 0,
                 val_ratio: float = 0.0,
                 ann_file: str = '',
                 on_corrupt: str = 'error',
                 extensions: Sequence[str] = IMG_EXTENSIONS,
                 allow_missing_classes: bool = False,
                 pipeline: Sequence = (),
                 **kwargs):
        if split not in ('train', 'val', 'test'):
            raise ValueError(
                f"{type(self).__name__}: split must be 'train', 'val' or "
                f"'test', got {split!r}.")
        if on_corrupt not in ('error', 'skip'):
            raise ValueError(
                f"{type(self).__name__}: on_corrupt must be 'error' or "
                f"'skip', got {on_corrupt!r}.")
        if not ann_file:
            self._check_ratios(split, train_ratio, val_ratio)
        self.split = split
        self.train_ratio = train_ratio
        self.val_ratio = val_ratio
        self.split_seed = split_seed
        self.on_corrupt = on_corrupt
        self.extensions = tuple(extensions)
        self.allow_missing_classes = allow_missing_classes
        kwargs.setdefault('test_mode', split != 'train')
        super().__init__(
            ann_file=ann_file, data_root=data_root, pipeline=pipeline,
            **kwargs)

    # ------------------------------------------------------------------ #
    def _check_ratios(self, split: str, train_ratio: float,
                      val_ratio: float) -> None:
        check_train_ratio(train_ratio)
        check_val_ratio(val_ratio, train_ratio)
        if split == 'val' and not val_ratio:
            raise ValueError(
                f"{type(self).__name__}: split='val' needs val_ratio > 0 "
                '(e.g. 0.1, the share of each class carved out of the '
                'training share; set the same val_ratio on the train '
                f'dataset), got val_ratio={val_ratio!r}.')

    def _official_classes(self) -> Optional[List[str]]:
        classes = self.METAINFO.get('classes')
        return list(classes) if classes else None

    def _class_folders(self) -> Dict[str, List[str]]:
        """Class name -> sorted image names, with every layout check."""
        folders = list_class_folders(self.data_root, self.extensions,
                                     self.IMAGE_SUBDIR)
        if not folders:
            raise FileNotFoundError(
                f'No class folders under "{self.data_root}". Expected '
                '"<data_root>/<class_name>/<image files>".')
        official = self._official_classes()
        mapping = match_folders_to_classes(
            list(folders), official, self.data_root, self.FOLDER_ALIASES,
            self.allow_missing_classes)
        if official and len(mapping) < len(official):
            MMLogger.get_current_instance().warning(
                f'{type(self).__name__}: no folder under "{self.data_root}" '
                f'for {[c for c in official if c not in mapping]}; these '
                'classes get no image.')
        empty = [mapping[c] for c in mapping if not folders[mapping[c]]]
        if empty:
            raise ValueError(
                f'Class folder(s) {empty} under "{self.data_root}" hold no '
                f'image with extension {list(self.extensions)}.')
        self._folder_of = mapping
        classes = official or list(mapping)
        return {c: folders[mapping[c]] if c in mapping else []
                for c in classes}

    def _samples_from_ann_file(self, classes: Sequence[str]):
        index = {normalize_class_name(c): i for i, c in enumerate(classes)}
        samples = []
        for lineno, line in enumerate(list_from_file(self.ann_file), 1):
            if not line.strip():
                continue
            parts = line.strip().rsplit(maxsplit=1)
            if len(parts) != 2:
                raise ValueError(
                    f'{self.ann_file}, line {lineno}: expected "<relative '
                    f'image path> <label>", got {line!r}.')
            rel, label = parts
            if label.lstrip('-').isdigit():
                label = int(label)
                if not 0 <= label < len(classes):
                    raise ValueError(
                        f'{self.ann_file}, line {lineno}: label {label} out '
                        f'of range for {len(classes)} classes.')
            elif normalize_class_name(label) in index:
                label = index[normalize_class_name(label)]
            else:
                raise ValueError(
                    f'{self.ann_file}, line {lineno}: unknown class '
                    f'{label!r}; known classes: {list(classes)}.')
            path = osp.join(self.data_root, rel)
            if not osp.isfile(path):
                raise FileNotFoundError(
                    f'{self.ann_file}, line {lineno}: image "{path}" does '
                    'not exist.')
            samples.append((path, label))
        return samples

    def load_data_list(self) -> List[dict]:
        files = self._class_folders()
        classes = list(files)
        self._metainfo['classes'] = tuple(classes)
        if self.ann_file:
            samples = self._samples_from_ann_file(classes)
        else:
            part = self._split_part(files)
            samples = [(osp.join(self.data_root, self._folder_of[c], f), i)
                       for i, c in enumerate(classes)
                       for f in part.get(c, ())]
        if self.on_corrupt == 'skip':
            samples = self._drop_corrupt(samples)
        return [dict(img_path=p, gt_label=int(label)) for p, label in samples]

    def _split_part(self, files: Dict[str, List[str]]
                    ) -> Dict[str, List[str]]:
        """This dataset's ``split`` of ``files`` (class -> file names)."""
        train, test = stratified_split(files, self.train_ratio,
                                       self.split_seed)
        if self.split == 'test':
            return test
        if self.val_ratio:
            train, val = carve_validation(train, test, self.val_ratio,
                                          self.split_seed, self.train_ratio)
            return val if self.split == 'val' else train
        return train

    def _drop_corrupt(self, samples):
        kept, broken = [], []
        for path, label in samples:
            (kept if _decodes(path) else broken).append((path, label))
        if broken:
            msg = (f'{type(self).__name__}: skipped {len(broken)} image(s) '
                   f'that cannot be decoded, e.g. {[p for p, _ in broken[:5]]}')
            MMLogger.get_current_instance().warning(msg)
            warnings.warn(msg)
        return kept

    def prepare_data(self, idx: int):
        try:
            return super().prepare_data(idx)
        except Exception as exc:
            path = self.get_data_info(idx)['img_path']
            if not _decodes(path):
                raise CorruptImageError(
                    f'Cannot decode image "{path}". Remove or replace it, or '
                    "build the dataset with on_corrupt='skip' to drop "
                    'undecodable images with a warning.') from exc
            raise

    def extra_repr(self) -> List[str]:
        return [f'Split: \t{self.split} (train_ratio={self.train_ratio}, '
                f'val_ratio={self.val_ratio}, seed={self.split_seed})'
                if not self.ann_file else f'Split file: \t{self.ann_file}']


def _decodes(path: str) -> bool:
    try:
        return mmcv.imread(path) is not None
    except Exception:  # noqa: BLE001 - any failure means "cannot decode"
        return False


@DATASETS.register_module()
class NWPURESISC45(RSSceneDataset):
    """NWPU-RESISC45 (Cheng et al., Proc. IEEE 2017): 45 classes x 700."""
    METAINFO = dict(classes=(
        'airplane', 'airport', 'baseball_diamond', 'basketball_court',
        'beach', 'bridge', 'chaparral', 'church', 'circular_farmland',
        'cloud', 'commercial_area', 'dense_residential', 'desert', 'forest',
        'freeway', 'golf_course', 'ground_track_field', 'harbor',
        'industrial_area', 'intersection', 'island', 'lake', 'meadow',
        'medium_residential', 'mobile_home_park', 'mountain', 'overpass',
        'palace', 'parking_lot', 'railway', 'railway_station',
        'rectangular_farmland', 'river', 'roundabout', 'runway', 'sea_ice',
        'ship', 'snowberg', 'sparse_residential', 'stadium', 'storage_tank',
        'tennis_court', 'terrace', 'thermal_power_station', 'wetland'))


@DATASETS.register_module()
class AID(RSSceneDataset):
    """AID (Xia et al., TGRS 2017): 30 classes, 10,000 images of 600 px."""
    METAINFO = dict(classes=(
        'Airport', 'BareLand', 'BaseballField', 'Beach', 'Bridge', 'Center',
        'Church', 'Commercial', 'DenseResidential', 'Desert', 'Farmland',
        'Forest', 'Industrial', 'Meadow', 'MediumResidential', 'Mountain',
        'Park', 'Parking', 'Playground', 'Pond', 'Port', 'RailwayStation',
        'Resort', 'River', 'School', 'SparseResidential', 'Square', 'Stadium',
        'StorageTanks', 'Viaduct'))


@DATASETS.register_module()
class UCMerced(RSSceneDataset):
    """UC Merced Land Use (Yang & Newsam, 2010): 21 classes x 100 .tif.

    ``data_root`` is the ``Images`` folder of ``UCMerced_LandUse``.
    """
    METAINFO = dict(classes=(
        'agricultural', 'airplane', 'baseballdiamond', 'beach', 'buildings',
        'chaparral', 'denseresidential', 'forest', 'freeway', 'golfcourse',
        'harbor', 'intersection', 'mediumresidential', 'mobilehomepark',
        'overpass', 'parkinglot', 'river', 'runway', 'sparseresidential',
        'storagetanks', 'tenniscourt'))


@DATASETS.register_module()
class RSSCN7(RSSceneDataset):
    """RSSCN7 (Zou et al., GRSL 2015): 7 classes x 400 images.

    The dataset ships its folders with a letter prefix (``aGrass`` ...
    ``gParking``); both those names and the plain class names are accepted.
    """
    METAINFO = dict(classes=('grass', 'field', 'industry', 'river_lake',
                             'forest', 'resident', 'parking'))
    FOLDER_ALIASES = {
        'aGrass': 'grass', 'bField': 'field', 'cIndustry': 'industry',
        'dRiverLake': 'river_lake', 'eForest': 'forest',
        'fResident': 'resident', 'gParking': 'parking'}


@DATASETS.register_module()
class DOTACls(RSSceneDataset):
    """DOTA-v1.0 objects as a 15-class classification set.

    Made by ``tools/dataset_converters/dota_to_cls.py`` (one folder per
    class of object crops), as in the DFT paper (Ma et al., GRSL 2026).
    """
    METAINFO = dict(classes=(
        'plane', 'baseball-diamond', 'bridge', 'ground-track-field',
        'small-vehicle', 'large-vehicle', 'ship', 'tennis-court',
        'basketball-court', 'storage-tank', 'soccer-ball-field',
        'roundabout', 'harbor', 'swimming-pool', 'helicopter'))


@DATASETS.register_module()
class RSOD(RSSceneDataset):
    """RSOD scenes (Long et al., TGRS 2017) used as a 4-class scene set.

    As it ships, ``<class>/JPEGImages/*.jpg`` (next to ``Annotation/``);
    images directly in ``<class>/`` are read too."""
    IMAGE_SUBDIR = 'JPEGImages'
    METAINFO = dict(classes=('aircraft', 'oiltank', 'overpass',
                             'playground'))
