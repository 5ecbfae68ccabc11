"""Replayable augmentation: the random parameters of a training sample are a
pure function of (seed, epoch, dataset index).

mmcv's and mmpretrain's transforms draw from the global ``random`` /
``numpy.random`` / ``torch`` generators of the process that runs the
pipeline. Which process that is, and what it drew before, depends on the
number of dataloader workers, on persistent workers, on the batch size and on
where a run was resumed, so the crop and flip an image gets in epoch e are
not reproducible. Here the sampler hands every index to the dataset together
with the run's seed and the epoch (:class:`ReplayIndex`, still an ``int`` for
everything else), and the dataset runs the pipeline of that sample with the
three generators seeded from (seed, epoch, index) and restores them
afterwards (``mmrskd.utils.random_state``). The augmented image of
(epoch, index) is then the same for any worker count, batch size, process
count and resume point, which is what makes a teacher-output cache exact and
``--resume`` bit-identical with persistent workers.
"""
import hashlib
import os.path as osp
from typing import Iterator, Optional

import numpy as np
from mmengine.dataset import DefaultSampler
from mmengine.registry import DATA_SAMPLERS

from ..utils.random_state import preserved_random_state


class ReplayIndex(int):
    """A dataset index that also carries the run's ``seed`` and the
    ``epoch`` it is drawn in. Behaves as the plain ``int`` everywhere else
    (list indexing, ``get_data_info``, batch samplers)."""

    def __new__(cls, index: int, seed: int, epoch: int) -> 'ReplayIndex':
        obj = super().__new__(cls, index)
        obj.seed = int(seed)
        obj.epoch = int(epoch)
        return obj

    def __reduce__(self):
        return ReplayIndex, (int(self), self.seed, self.epoch)

    def __repr__(self) -> str:
        return (f'ReplayIndex({int(self)}, seed={self.seed}, '
                f'epoch={self.epoch})')


def replay_seed(seed: int, epoch: int, index: int) -> int:
    """The 32-bit seed of sample ``index`` in ``epoch`` of a run seeded
    ``seed`` (numpy's SeedSequence: well mixed, the same on every
    platform)."""
    return int(np.random.SeedSequence(
        [seed & 0xFFFFFFFF, epoch, index]).generate_state(1)[0])


@DATA_SAMPLERS.register_module()
class ReplaySampler(DefaultSampler):
    """mmengine's ``DefaultSampler`` (same order, same sharding) whose
    indices carry the seed and the epoch (:class:`ReplayIndex`).

    Args:
        augment_seed: seed of the augmentation draws; by default the
            sampler's own seed (the run's ``randomness.seed``). Fix it to
            let runs of other seeds share one teacher-output cache (they
            then differ in initialisation and sample order only).
        **kwargs: ``DefaultSampler``'s arguments (``dataset``,
            ``shuffle``, ``seed``, ``round_up``).
    """

    def __init__(self, *args, augment_seed: Optional[int] = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.augment_seed = self.seed if augment_seed is None else \
            int(augment_seed)

    def __iter__(self) -> Iterator[ReplayIndex]:
        for index in super().__iter__():
            yield ReplayIndex(index, self.augment_seed, self.epoch)


def replay_key(dataset) -> str:
    """A short hash of what decides the training image of every index: the
    ordered (path relative to ``data_root``, label) list - which also fixes
    the split - and the pipeline."""
    root = getattr(dataset, 'data_root', '') or ''
    digest = hashlib.sha256()
    for i in range(len(dataset)):
        info = dataset.get_data_info(i)
        path = osp.relpath(info['img_path'], root) if root else \
            info['img_path']
        digest.update(f'{path}\t{int(info.get("gt_label", -1))}\n'.encode())
    digest.update(repr(dataset.pipeline).encode())
    return digest.hexdigest()[:16]


class ReplayMixin:
    """For mmengine ``BaseDataset`` subclasses: a :class:`ReplayIndex` runs
    the pipeline with the generators seeded by :func:`replay_seed` (and
    restored afterwards); the packed data sample records ``replay_epoch``,
    ``replay_seed`` and the dataset's :func:`replay_key` (``sample_idx`` is
    already there). Plain ``int`` indices behave as before."""

    _replay_key = None

    def prepare_data(self, idx):
        if not isinstance(idx, ReplayIndex):
            return super().prepare_data(idx)
        seed = replay_seed(idx.seed, idx.epoch, int(idx))
        with preserved_random_state(seed):
            data = super().prepare_data(int(idx))
        sample = data.get('data_samples') if isinstance(data, dict) else None
        if sample is not None and hasattr(sample, 'set_metainfo'):
            if self._replay_key is None:
                self._replay_key = replay_key(self)
            sample.set_metainfo(dict(replay_epoch=idx.epoch,
                                     replay_seed=idx.seed,
                                     replay_key=self._replay_key))
        return data
