"""An exact teacher-output cache: the teacher's logits of every training
sample under the augmentation it gets in every epoch, computed once.

With replayable augmentation (:mod:`mmrskd.datasets.replay`) the image a
sample ``i`` is in epoch ``e`` depends on (seed, e, i) only, so the teacher's
logits for it can be stored and served instead of running the teacher.
``tools/cache_teacher.py`` writes the cache; ``ClsDistiller(teacher_cache=
dict(path=...))`` reads it and never builds the teacher.

Layout of the cache folder:

- ``manifest.json``: what the logits were computed from (hashes of the
  teacher checkpoint and the teacher's model config; the dataset's
  ``replay_key``, a hash of its ordered file list with labels - hence of the
  split - and of its training pipeline; the augmentation seed), their shape
  and storage dtype. A run whose data or teacher differ is refused.
- ``logits.npy``: (epochs, samples, classes) memory-mapped array.
- ``done.npy``: (epochs, samples) bool, which rows are written (a killed
  build resumes where it stopped).
- ``sources/``, ``classifier.npz`` (version 3): teacher features for
  feature losses, when the config's losses read them
  (:mod:`.cached_sources`).

When the training pipeline's randomness is a finite group (a fixed resize
and a random flip: :mod:`mmrskd.datasets.variants`), the first axis holds
the group's variants instead of epochs (``manifest['variants']``, e.g.
``['flip=none', 'flip=horizontal', 'flip=vertical']``): each variant of a
sample is stored once and the cache serves any number of epochs and any
augmentation seed.
"""
import hashlib
import json
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import Tensor, nn

from ...datasets.variants import variant_of
from .cached_sources import Output, load_classifier, open_source_arrays, \
    read_rows

MANIFEST = 'manifest.json'
LOGITS = 'logits.npy'
DONE = 'done.npy'
VERSION = 3
# version 1: epochs only, no variants; 2: no teacher features
READABLE = (1, 2, 3)
DTYPES = {'fp16': np.float16, 'fp32': np.float32}


class TeacherCacheError(RuntimeError):
    """A teacher-output cache is missing, incomplete or does not fit the
    run."""


def file_sha256(path: str, chunk: int = 1 << 22) -> str:
    """sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(chunk), b''):
            digest.update(block)
    return digest.hexdigest()


def text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def teacher_fingerprint(model_cfg: dict, ckpt: str) -> Dict[str, str]:
    """Hashes of the teacher: its checkpoint's bytes and its model config
    (with the data preprocessor it normalises with)."""
    from mmengine.config import Config
    text = Config(dict(model=dict(model_cfg))).pretty_text
    return dict(teacher_ckpt=file_sha256(ckpt),
                teacher_cfg=text_sha256(text))


def write_manifest(path: str, manifest: dict) -> None:
    os.makedirs(path, exist_ok=True)
    tmp = osp.join(path, MANIFEST + '.tmp')
    with open(tmp, 'w') as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
    os.replace(tmp, osp.join(path, MANIFEST))


def read_manifest(path: str) -> dict:
    file = osp.join(path, MANIFEST)
    if not osp.isfile(file):
        raise TeacherCacheError(
            f'No teacher-output cache at "{path}" ({MANIFEST} missing). '
            'Build it with `python tools/cache_teacher.py CONFIG --out '
            f'{path}`.')
    with open(file) as f:
        return json.load(f)


def open_arrays(path: str, manifest: dict, mode: str = 'r'):
    """The ``logits`` and ``done`` memory maps of a cache (``mode`` 'r',
    'r+', or 'w+' to create them)."""
    shape = (num_rows(manifest), manifest['num_samples'],
             manifest['num_classes'])
    dtype = DTYPES[manifest['dtype']]
    if mode == 'w+':
        logits = np.lib.format.open_memmap(osp.join(path, LOGITS), 'w+',
                                           dtype, shape)
        done = np.lib.format.open_memmap(osp.join(path, DONE), 'w+',
                                         np.bool_, shape[:2])
        return logits, done
    return (np.load(osp.join(path, LOGITS), mmap_mode=mode),
            np.load(osp.join(path, DONE), mmap_mode=mode))


def num_rows(manifest: dict) -> int:
    """Length of the first axis: the variants, or else the epochs."""
    variants = manifest.get('variants')
    return len(variants) if variants else int(manifest['epochs'])


def mismatches(manifest: dict, expected: Dict[str, str]) -> List[str]:
    """Names of the ``expected`` hashes that the manifest holds otherwise."""
    return [k for k, v in expected.items()
            if manifest.get('hashes', {}).get(k) != v]


class TeacherCache:
    """Serve cached teacher logits by (epoch, dataset index), or by
    (variant, dataset index) for a finite augmentation group.

    Args:
        path: the cache folder written by ``tools/cache_teacher.py``.
        wrap: serve epoch ``e`` beyond the cached ones from ``e % epochs``
            (the augmentation then repeats); otherwise such an epoch is an
            error.
        expected: hashes the run must match (teacher checkpoint and
            config, when the distiller's config names them).
    """

    def __init__(self, path: str, wrap: bool = False,
                 expected: Optional[Dict[str, str]] = None):
        self.path = path
        self.wrap = wrap
        self.manifest = read_manifest(path)
        if self.manifest.get('version') not in READABLE:
            raise TeacherCacheError(
                f'Teacher-output cache "{path}" has format version '
                f'{self.manifest.get("version")}, this mmrskd reads '
                f'{VERSION}. Rebuild it with tools/cache_teacher.py.')
        bad = mismatches(self.manifest, expected or {})
        if bad:
            raise TeacherCacheError(
                f'Teacher-output cache "{path}" was built from another '
                f'{" and ".join(bad)} than this run\'s. Rebuild it for this '
                'config with tools/cache_teacher.py (or point '
                'teacher_cache.path at the matching cache).')
        self.logits, done = open_arrays(path, self.manifest)
        if not done.all():
            missing = int((~done).sum())
            raise TeacherCacheError(
                f'Teacher-output cache "{path}" is incomplete ({missing} of '
                f'{done.size} rows missing): finish it by running '
                'tools/cache_teacher.py again with the same arguments.')
        self._checked_keys = set()
        self.variants = self.manifest.get('variants')
        self._rows = {k: i for i, k in enumerate(self.variants or [])}
        #: cached teacher modules (name -> shapes), see cached_sources
        self.sources: Dict[str, dict] = self.manifest.get('sources') or {}
        self._source_arrays = open_source_arrays(
            path, self.sources, num_rows(self.manifest),
            self.manifest['num_samples'], DTYPES[self.manifest['dtype']])
        self.has_classifier = bool(self.manifest.get('classifier'))
        self._classifier = None

    @property
    def epochs(self) -> Optional[int]:
        """Cached epochs (None: variants, any number of epochs)."""
        return None if self.variants else int(self.manifest['epochs'])

    def check_samples(self, samples: Sequence) -> None:
        """The batch comes from the data the cache was built on."""
        for s in samples:
            key = (s.get('replay_key'), s.get('replay_seed'))
            if key in self._checked_keys:
                continue
            if s.get('replay_epoch') is None or key[0] is None:
                raise TeacherCacheError(
                    'teacher_cache needs replayable training data: the '
                    "train_dataloader's sampler must be ReplaySampler and "
                    'the dataset a scene dataset of mmrskd (its samples '
                    'carry replay_epoch / replay_key).')
            want = (self.manifest['replay_key'], self.manifest['seed'])
            if self.variants:  # every seed's samples are variants
                want = (want[0], key[1])
            if key != want:
                what = 'augmentation seed' if key[0] == want[0] else \
                    'training data (file list, split or pipeline)'
                raise TeacherCacheError(
                    f'Teacher-output cache "{self.path}" was built for other '
                    f'{what} than this run\'s (cache: seed {want[1]}; run: '
                    f'seed {key[1]}). Rebuild it with tools/cache_teacher.py '
                    'for this config and seed.')
            self._checked_keys.add(key)

    def lookup(self, samples: Sequence, device=None,
               modules: Sequence[str] = ()
               ) -> Tuple[Tensor, Dict[str, Output]]:
        """(N, C) float32 teacher logits of a batch's data samples, and
        the cached outputs of the teacher ``modules`` (only those: a
        feature loss reads one layer of a cache that may hold several),
        keyed ``'teacher.<module>'`` (float32; a tuple for a tuple
        output)."""
        rows, index = self._where(samples)
        logits = np.asarray(self.logits[rows, index], dtype=np.float32)
        features = read_rows({m: self._source_arrays[m] for m in modules},
                             self.sources, rows, index, device)
        return torch.from_numpy(logits).to(device), features

    def classifier(self, device=None) -> nn.Linear:
        """The teacher's stored classifier (frozen ``nn.Linear``)."""
        if not self.has_classifier:
            raise TeacherCacheError(
                f'Teacher-output cache "{self.path}" holds no teacher '
                "classifier ('teacher.classifier'): rebuild it with "
                'tools/cache_teacher.py for this config.')
        if self._classifier is None:
            self._classifier = load_classifier(self.path)
        return self._classifier.to(device)

    def _where(self, samples: Sequence):
        """The cache rows and dataset indices of a batch."""
        self.check_samples(samples)
        index = np.array([int(s.sample_idx) for s in samples])
        rows = self._variant_rows(samples) if self.variants else \
            self._epoch_rows(samples)
        return rows, index

    def _variant_rows(self, samples: Sequence) -> np.ndarray:
        keys = [variant_of(s) for s in samples]
        unknown = sorted(set(keys) - set(self._rows))
        if unknown:
            raise TeacherCacheError(
                f'Training samples got the augmentation {unknown}, which '
                f'teacher-output cache "{self.path}" does not hold (it holds '
                f'{self.variants}). Rebuild it for this pipeline with '
                'tools/cache_teacher.py.')
        return np.array([self._rows[k] for k in keys])

    def _epoch_rows(self, samples: Sequence) -> np.ndarray:
        epochs = np.array([s.replay_epoch for s in samples])
        if (epochs >= self.epochs).any():
            if not self.wrap:
                raise TeacherCacheError(
                    f'Epoch {int(epochs.max()) + 1} is past the '
                    f'{self.epochs} epochs in teacher-output cache '
                    f'"{self.path}". Build the cache for more epochs '
                    '(tools/cache_teacher.py --epochs N), or set '
                    'teacher_cache.wrap=True to reuse its epochs.')
            epochs = epochs % self.epochs
        return epochs


def open_teacher_cache(cfg: dict, teacher_model_cfg: dict,
                       teacher_ckpt: Optional[str]) -> TeacherCache:
    """The :class:`TeacherCache` of a distiller's ``teacher_cache`` config
    (``path``, optional ``wrap``), checked against the teacher the
    distiller's config names (its checkpoint, when given, and its model
    config)."""
    cfg = dict(cfg)
    path = cfg.pop('path', None)
    wrap = bool(cfg.pop('wrap', False))
    if path is None or cfg:
        raise TeacherCacheError(
            f'teacher_cache takes path (and wrap), got {sorted(cfg) or []} '
            f'{"without path" if path is None else ""}'.strip() + '.')
    expected = {}
    if teacher_ckpt is not None:
        if not osp.isfile(teacher_ckpt):
            raise TeacherCacheError(
                f'teacher_ckpt "{teacher_ckpt}" (named to check the teacher '
                f'cache "{path}" against) does not exist.')
        expected = teacher_fingerprint(teacher_model_cfg, teacher_ckpt)
    return TeacherCache(path, wrap, expected)
