"""Teacher features in a teacher-output cache, next to its logits.

A feature loss reads the outputs of named teacher modules
(``'teacher.backbone.layer2'``) and, for SDD, the teacher's classifier
(``'teacher.classifier'``). ``tools/cache_teacher.py`` stores those of the
config's losses (and any named with ``--sources``) under the cache folder,
one memory-mapped array per module output, with the same first two axes as
the logits (epochs or variants, samples):

- ``sources/<module>.npy``: (rows, samples, *shape) of a module returning a
  tensor; ``sources/<module>.<i>.npy`` for each tensor of a module
  returning a tuple (mmpretrain's necks), served as a tuple again;
- ``classifier.npz``: the teacher head's ``fc`` weight and bias, served as
  a frozen ``nn.Linear``.

The manifest's ``sources`` maps each module name to ``dict(shapes=[...],
tuple=bool)`` and ``classifier`` says whether the classifier is stored.
"""
import os
import os.path as osp
from typing import Dict, List, Sequence, Union

import numpy as np
import torch
from torch import Tensor, nn

SOURCES_DIR = 'sources'
CLASSIFIER = 'classifier.npz'
#: what a captured module output is: a tensor or a tuple of tensors
Output = Union[Tensor, tuple]


def teacher_modules(sources: Sequence[str]) -> List[str]:
    """The teacher module names among loss ``sources`` (``'teacher.<m>'``,
    not the builtin logits and classifier), sorted."""
    return sorted({s.split('.', 1)[1] for s in sources
                   if s.startswith('teacher.') and s != 'teacher.classifier'
                   and not s.startswith('teacher.logits')})


def describe(outputs: Dict[str, Output]) -> Dict[str, dict]:
    """The manifest's ``sources`` entry of captured outputs (module name
    -> one sample's shapes, and whether the module returns a tuple)."""
    out = {}
    for name, value in sorted(outputs.items()):
        parts = value if isinstance(value, (tuple, list)) else (value, )
        if not all(torch.is_tensor(p) for p in parts):
            raise TypeError(
                f'Teacher module "{name}" returns {type(value).__name__} '
                'with non-tensor parts: a teacher-output cache stores '
                'tensors or tuples of tensors only.')
        out[name] = dict(shapes=[list(p.shape[1:]) for p in parts],
                         tuple=isinstance(value, (tuple, list)))
    return out


def _files(name: str, entry: dict) -> List[str]:
    if not entry['tuple']:
        return [f'{name}.npy']
    return [f'{name}.{i}.npy' for i in range(len(entry['shapes']))]


def open_source_arrays(path: str, sources: Dict[str, dict], rows: int,
                       samples: int, dtype, mode: str = 'r'
                       ) -> Dict[str, List[np.ndarray]]:
    """The memory maps of every cached module output (``mode`` 'r', 'r+',
    or 'w+' to create them)."""
    folder = osp.join(path, SOURCES_DIR)
    if mode == 'w+':
        os.makedirs(folder, exist_ok=True)
    arrays = {}
    for name, entry in sources.items():
        arrays[name] = []
        for file, shape in zip(_files(name, entry), entry['shapes']):
            file = osp.join(folder, file)
            arrays[name].append(
                np.lib.format.open_memmap(file, 'w+', dtype,
                                          (rows, samples, *shape))
                if mode == 'w+' else np.load(file, mmap_mode=mode))
    return arrays


def write_rows(arrays: Dict[str, List[np.ndarray]],
               outputs: Dict[str, Output], row: int,
               index: np.ndarray) -> None:
    """Store a batch's captured ``outputs`` (keyed by module name) at
    ``(row, index)`` and flush them."""
    for name, maps in arrays.items():
        value = outputs[name]
        parts = value if isinstance(value, (tuple, list)) else (value, )
        for array, part in zip(maps, parts):
            array[row, index] = part.float().cpu().numpy().astype(
                array.dtype)
            array.flush()


def read_rows(arrays: Dict[str, List[np.ndarray]],
              sources: Dict[str, dict], rows: np.ndarray, index: np.ndarray,
              device=None) -> Dict[str, Output]:
    """A batch's cached outputs as float32 tensors on ``device``, keyed
    ``'teacher.<module>'`` as the distiller's hooks key them."""
    out = {}
    for name, maps in arrays.items():
        parts = tuple(torch.from_numpy(np.asarray(
            array[rows, index], dtype=np.float32)).to(device)
            for array in maps)
        out[f'teacher.{name}'] = parts if sources[name]['tuple'] \
            else parts[0]
    return out


def save_classifier(path: str, fc: nn.Linear) -> None:
    """Store the teacher head's ``fc`` (weight, and bias if any)."""
    state = {k: v.detach().float().cpu().numpy()
             for k, v in fc.state_dict().items()}
    np.savez(osp.join(path, CLASSIFIER), **state)


def load_classifier(path: str) -> nn.Linear:
    """The stored teacher classifier as a frozen float32 ``nn.Linear``."""
    with np.load(osp.join(path, CLASSIFIER)) as f:
        state = {k: torch.from_numpy(f[k]) for k in f.files}
    out_features, in_features = state['weight'].shape
    fc = nn.Linear(in_features, out_features, bias='bias' in state)
    fc.load_state_dict(state)
    return fc.requires_grad_(False)
