from .rs_scene import (AID, NWPURESISC45, RSOD, RSSCN7, CorruptImageError, DOTACls,
                       RSSceneDataset, UCMerced)
from .replay import ReplayIndex, ReplaySampler
from .split import normalize_class_name, stratified_split

__all__ = [
    'RSSceneDataset', 'NWPURESISC45', 'AID', 'UCMerced', 'RSSCN7', 'RSOD', 'DOTACls',
    'CorruptImageError', 'stratified_split', 'normalize_class_name',
    'ReplayIndex', 'ReplaySampler'
]

from .dota import DOTADataset  # noqa: E402
from .nwpu_vhr10 import NWPUVHR10Dataset  # noqa: E402

__all__ += ['DOTADataset', 'NWPUVHR10Dataset']
