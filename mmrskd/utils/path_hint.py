"""Tell the user when a missing dataset path lost its spaces on the way.

mmengine's ``--cfg-options`` parser (used by mmpretrain's and mmdet's own
tools) deletes every space of a value, so ``data/NWPU VHR-10 dataset/``
arrives as ``data/NWPUVHR-10dataset/`` and the dataset then reports a folder
that does not exist. The datasets' not-found errors append
:func:`stripped_spaces_hint` to say what happened and how to pass the path.
"""
import os
import os.path as osp
from typing import Iterable, Optional, Tuple

#: How to pass a path with spaces (the end of every hint).
SPACES_HINT = (
    'A path with spaces given with --cfg-options must be quoted as one '
    'shell word and passed to mmrskd\'s tools/train.py or tools/test.py '
    '(mmengine\'s own parser, used by the mmpretrain and mmdet tools, drops '
    'the spaces), e.g. --cfg-options '
    '"train_dataloader.dataset.data_root=data/NWPU VHR-10 dataset/"; or set '
    'the path in a config file.')


def first_missing(path: str) -> Optional[Tuple[str, str]]:
    """(deepest existing folder, first missing name) of ``path``; None if
    ``path`` exists or no ancestor of it does."""
    path = osp.normpath(path)
    missing = None
    while not osp.exists(path):
        parent, missing = osp.split(path)
        if parent == path or not missing:
            return None
        path = parent or '.'
    return (path, missing) if missing is not None else None


def stripped_spaces_hint(path: str, official_names: Iterable[str] = ()
                         ) -> str:
    """A sentence for a not-found error when ``path`` looks like a path
    whose spaces were removed, else ``''``.

    Args:
        path: the path that does not exist.
        official_names: folder names with spaces the dataset ships with
            (e.g. ``'NWPU VHR-10 dataset'``); a component of ``path`` equal
            to one of them without its spaces is a removed-spaces sign even
            when nothing on disk matches.
    """
    found = first_missing(path)
    if found is not None and osp.isdir(found[0]):
        parent, missing = found
        for entry in sorted(os.listdir(parent)):
            if ' ' in entry and entry.replace(' ', '') == missing:
                return (f' "{osp.join(parent, missing)}" does not exist but '
                        f'"{osp.join(parent, entry)}" does: the spaces were '
                        f'probably removed. {SPACES_HINT}')
    stripped = {name.replace(' ', ''): name for name in official_names
                if ' ' in name}
    for part in osp.normpath(path).split(os.sep):
        if part in stripped:
            return (f' "{part}" looks like "{stripped[part]}" without its '
                    f'spaces. {SPACES_HINT}')
    return ''
