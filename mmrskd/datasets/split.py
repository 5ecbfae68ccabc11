"""Deterministic, stratified train/val/test splits of folder-per-class sets.

The scene-classification papers (ISDM, DKD on AID) report results on random
per-class splits, usually 8:2 or 5:5. A split here is a pure function of the
sorted file names, the ratio and a seed, so it is identical on every machine,
every run and every Python/numpy version (numpy's legacy ``RandomState`` is
frozen by numpy's stability policy).

An optional validation share (``val_ratio``) is carved out of the training
share only, so the test split is the same whatever ``val_ratio`` is and a
checkpoint can be selected without looking at the test images.
"""
import os
import os.path as osp
import re
import zlib
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..utils.path_hint import stripped_spaces_hint
from .image_files import IMG_EXTENSIONS, list_images


def normalize_class_name(name: str) -> str:
    """Canonical form used to match folder names to official class names.

    Case is ignored and spaces, underscores and hyphens are dropped, so
    ``BareLand``, ``bare_land`` and ``Bare Land`` all match.
    """
    return re.sub(r'[\s_\-]+', '', name).lower()


def list_class_folders(data_root: str,
                       extensions: Sequence[str] = IMG_EXTENSIONS,
                       image_subdir: Optional[str] = None
                       ) -> Dict[str, List[str]]:
    """Map every sub-folder of ``data_root`` to its sorted image file names
    (relative to the class folder).

    Hidden folders are ignored. Folders are returned even when they hold no
    image, so callers can report them as empty. With ``image_subdir`` (RSOD
    ships ``<class>/JPEGImages/*.jpg`` next to ``<class>/Annotation/``) a
    class folder without images of its own is read from that sub-folder.
    """
    if not osp.isdir(data_root):
        raise FileNotFoundError(
            f'Scene dataset root "{data_root}" does not exist or is not a '
            'directory. Expected the folder-per-class layout '
            '"<data_root>/<class_name>/<image files>" (as NWPU-RESISC45, AID, '
            'UC Merced and RSSCN7 ship).' + stripped_spaces_hint(data_root))
    exts = tuple(e.lower() for e in extensions)
    folders = {}
    for entry in sorted(os.listdir(data_root)):
        path = osp.join(data_root, entry)
        if entry.startswith('.') or not osp.isdir(path):
            continue
        names = list_images(path, exts)
        sub = osp.join(path, image_subdir) if image_subdir else None
        if not names and sub and osp.isdir(sub):
            names = [osp.join(image_subdir, f)
                     for f in list_images(sub, exts)]
        folders[entry] = names
    return folders


def _class_seed(split_seed: int, class_name: str,
                stream: int = 0) -> List[int]:
    # One stream per class, keyed by its canonical name: adding or removing
    # another class never changes this class's split. Stream 1 draws the
    # validation share; stream 0 keeps its historical two-word seed so that
    # every published train/test split stays unchanged.
    seed = [int(split_seed) & 0xFFFFFFFF,
            zlib.crc32(normalize_class_name(class_name).encode())]
    return seed + [stream] if stream else seed


def seeded_split(files: Sequence[str], n_first: int, seed
                 ) -> Tuple[List[str], List[str]]:
    """Shuffle the sorted ``files`` with numpy's legacy
    ``RandomState(seed)`` (an int or a list of words) and cut them after
    ``n_first``: ``(first part, rest)``, each sorted. The one shuffle of
    every split mmrskd draws (scene classes, validation shares, the NWPU
    VHR-10 images)."""
    files = sorted(files)
    perm = np.random.RandomState(seed).permutation(len(files))
    return (sorted(files[i] for i in perm[:n_first]),
            sorted(files[i] for i in perm[n_first:]))


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
        n = len(files)
        n_train = int(round(n * train_ratio))
        if n >= 2:
            n_train = min(max(n_train, 1), n - 1)
        train[name], test[name] = seeded_split(
            files, n_train, _class_seed(split_seed, name))
    return train, test


def carve_validation(train: Dict[str, Sequence[str]],
                     test: Dict[str, Sequence[str]],
                     val_ratio: float,
                     split_seed: int = 0,
                     train_ratio: Optional[float] = None
                     ) -> Tuple[Dict[str, List[str]], Dict[str, List[str]]]:
    """Move a stratified validation share out of the training part.

    Args:
        train: class name -> training files (from :func:`stratified_split`).
        test: class name -> test files; only their count is used (the class
            size is ``len(train) + len(test)``), they are never moved.
        val_ratio: share of each class's images (of the whole class, not of
            its training part) that goes to validation, in ``[0, 1)``;
            ``train_ratio=0.8, val_ratio=0.1`` gives 70/10/20.
        split_seed: seed of the draw (its own stream, independent of the
            train/test shuffle).
        train_ratio: only named in error messages.

    Returns:
        ``(train, val)``: class name -> sorted files. A class gets
        ``round(n * val_ratio)`` validation files, at least one when
        ``val_ratio > 0`` and its training part has two or more.
    """
    check_val_ratio(val_ratio, train_ratio)
    new_train, val = {}, {}
    for name, files in train.items():
        files = sorted(files)
        n = len(files) + len(test.get(name, ()))
        n_val = int(round(n * val_ratio))
        if val_ratio > 0 and len(files) >= 2:
            n_val = max(n_val, 1)
        if files and n_val >= len(files):
            raise ValueError(
                f'val_ratio={val_ratio!r} (with train_ratio='
                f'{train_ratio!r}) leaves class "{name}" no training image: '
                f'{n} images, {len(files)} in the training share, {n_val} '
                'of them for validation. Lower val_ratio or raise '
                'train_ratio.')
        val[name], new_train[name] = seeded_split(
            files, n_val, _class_seed(split_seed, name, stream=1))
    return new_train, val


def check_val_ratio(val_ratio: float,
                    train_ratio: Optional[float] = None) -> None:
    """Raise a clear error unless ``0 <= val_ratio < train_ratio``."""
    if isinstance(val_ratio, bool) or \
            not isinstance(val_ratio, (int, float)) or not 0 <= val_ratio < 1:
        raise ValueError(
            'val_ratio must be in [0, 1): the share of each class carved out '
            'of the training share for validation (e.g. 0.1; 0 = no '
            f'validation split), got {val_ratio!r}.')
    if train_ratio is not None and val_ratio >= train_ratio:
        raise ValueError(
            f'val_ratio={val_ratio!r} must be smaller than train_ratio='
            f'{train_ratio!r}: the validation share is taken from the '
            'training share (train_ratio=0.8, val_ratio=0.1 gives 70/10/20).')


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
