"""Deterministic, stratified train/test splits of folder-per-class scene sets.

The scene-classification papers (ISDM, DKD on AID) report results on random
per-class splits, usually 8:2 or 5:5. A split here is a pure function of the
sorted file names, the ratio and a seed, so it is identical on every machine,
every run and every Python/numpy version (numpy's legacy ``RandomState`` is
frozen by numpy's stability policy).
"""
import os
import os.path as osp
import re
import zlib
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

IMG_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.tif', '.tiff', '.bmp')


def normalize_class_name(name: str) -> str:
    """Canonical form used to match folder names to official class names.

    Case is ignored and spaces, underscores and hyphens are dropped, so
    ``BareLand``, ``bare_land`` and ``Bare Land`` all match.
    """
    return re.sub(r'[\s_\-]+', '', name).lower()


def list_class_folders(data_root: str,
                       extensions: Sequence[str] = IMG_EXTENSIONS
                       ) -> Dict[str, List[str]]:
    """Map every sub-folder of ``data_root`` to its sorted image file names.

    Hidden folders are ignored. Folders are returned even when they hold no
    image, so callers can report them as empty.
    """
    if not osp.isdir(data_root):
        raise FileNotFoundError(
            f'Scene dataset root "{data_root}" does not exist or is not a '
            'directory. Expected the folder-per-class layout '
            '"<data_root>/<class_name>/<image files>" (as NWPU-RESISC45, AID, '
            'UC Merced and RSSCN7 ship).')
    exts = tuple(e.lower() for e in extensions)
    folders = {}
    for entry in sorted(os.listdir(data_root)):
        path = osp.join(data_root, entry)
        if entry.startswith('.') or not osp.isdir(path):
            continue
        folders[entry] = sorted(
            f for f in os.listdir(path)
            if f.lower().endswith(exts) and not f.startswith('.')
            and osp.isfile(osp.join(path, f)))
    return folders


def _class_seed(split_seed: int, class_name: str) -> List[int]:
    # One stream per class, keyed by its canonical name: adding or removing
    # another class never changes this class's split.
    return [int(split_seed) & 0xFFFFFFFF,
            zlib.crc32(normalize_class_name(class_name).encode())]


def stratified_split(files_per_class: Dict[str, Sequence[str]],
                     train_ratio: float,
                     split_seed: int = 0) -> Tuple[Dict[str, List[str]],
                                                   Dict[str, List[str]]]:
    """Split each class's files into train and test parts.

    Args:
        files_per_class: class name -> file names (any order; sorted here).
        train_ratio: share of each class that goes to the training part,
            strictly between 0 and 1 (0.8 and 0.5 are the papers' 8:2 and 5:5
            protocols).
        split_seed: seed of the shuffle.

    Returns:
        ``(train, test)``: class name -> sorted file names. For each class the
        two parts are disjoint, cover all files, the train part has
        ``round(n * train_ratio)`` files, and both parts get at least one file
        whenever the class has two or more.
    """
    check_train_ratio(train_ratio)
    train, test = {}, {}
    for name, files in files_per_class.items():
        files = sorted(files)
        n = len(files)
        n_train = int(round(n * train_ratio))
        if n >= 2:
            n_train = min(max(n_train, 1), n - 1)
        perm = np.random.RandomState(_class_seed(split_seed, name)).permutation(n)
        train[name] = sorted(files[i] for i in perm[:n_train])
        test[name] = sorted(files[i] for i in perm[n_train:])
    return train, test


def check_train_ratio(train_ratio: float) -> None:
    """Raise a clear error unless ``0 < train_ratio < 1``."""
    if not isinstance(train_ratio, (int, float)) or not 0 < train_ratio < 1:
        raise ValueError(
            f'train_ratio must be strictly between 0 and 1 (0.8 for the 8:2 '
            f'protocol, 0.5 for 5:5), got {train_ratio!r}.')


def match_folders_to_classes(
        folders: Sequence[str],
        classes: Optional[Sequence[str]],
        data_root: str,
        aliases: Optional[Dict[str, str]] = None,
        allow_missing: bool = False) -> Dict[str, str]:
    """Match folder names to official class names.

    Args:
        folders: sub-folder names found under ``data_root``.
        classes: official class names, or None to take the folder names as
            the classes.
        data_root: only used in error messages.
        aliases: extra normalised folder name -> class name entries for
            datasets whose folders do not carry the class name (RSSCN7 ships
            ``aGrass`` for ``grass``).
        allow_missing: a class without folder is left out of the mapping
            instead of being an error.

    Returns:
        class name -> folder name, in the order of ``classes``.
    """
    if classes is None:
        return {f: f for f in folders}
    by_key = {normalize_class_name(c): c for c in classes}
    for alias, cls in (aliases or {}).items():
        by_key.setdefault(normalize_class_name(alias), cls)
    mapping: Dict[str, str] = {}
    unknown = []
    for folder in folders:
        cls = by_key.get(normalize_class_name(folder))
        if cls is None:
            unknown.append(folder)
        elif cls in mapping:
            raise ValueError(
                f'Folders "{mapping[cls]}" and "{folder}" under "{data_root}" '
                f'both match class "{cls}"; keep only one.')
        else:
            mapping[cls] = folder
    if unknown:
        raise ValueError(
            f'Folder(s) {unknown} under "{data_root}" match no class of this '
            f'dataset. Known classes: {list(classes)}. Names are matched '
            'ignoring case, spaces, underscores and hyphens; remove the '
            'folder or use the generic RSSceneDataset.')
    missing = [c for c in classes if c not in mapping]
    if missing and not allow_missing:
        raise ValueError(
            f'No folder under "{data_root}" for class(es) {missing}. Expected '
            'one sub-folder per class ("<data_root>/<class_name>/<images>").')
    return {c: mapping[c] for c in classes if c in mapping}
