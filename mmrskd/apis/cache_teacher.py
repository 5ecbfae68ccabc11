"""Build a teacher-output cache (``tools/cache_teacher.py``): run the teacher
once over the training set under the replayed augmentation of every epoch.

See :mod:`mmrskd.models.distillers.teacher_cache` for the format and
:mod:`mmrskd.datasets.replay` for why the cached logits are exact.
"""
import copy
import os
import os.path as osp
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from mmengine.config import Config
from mmengine.dist import barrier, get_dist_info
from mmengine.registry import init_default_scope
from mmengine.utils import ProgressBar
from torch.utils.data import DataLoader

from ..datasets.replay import ReplayIndex, ReplayMixin, replay_key
from ..datasets.variants import pipeline_variants
from ..datasets.wrappers import unwrap_dataset
from ..models.distillers.cached_sources import (describe, open_source_arrays,
                                                save_classifier,
                                                teacher_modules, write_rows)
from ..models.distillers.loss_inputs import flat_sources, normalize_inputs
from ..models.distillers.teacher import (FeatureStore, Teacher,
                                         count_classes, teacher_model_cfg)
from ..models.distillers.cls_distiller import classifier_of
from ..models.distillers.teacher_cache import (DTYPES, VERSION,
                                               TeacherCacheError, num_rows,
                                               open_arrays, read_manifest,
                                               teacher_fingerprint,
                                               write_manifest)
from ..utils.model_config import config_model, is_distiller, models_registry


def augment_seed(cfg: Config) -> int:
    """The seed the training run's ``ReplaySampler`` replays with."""
    sampler = cfg.train_dataloader.get('sampler') or {}
    if sampler.get('type') != 'ReplaySampler':
        raise TeacherCacheError(
            'A teacher-output cache needs replayable augmentation: set '
            "train_dataloader.sampler.type='ReplaySampler' (the scene "
            f'configs do); this config uses {sampler.get("type")!r}.')
    seed = sampler.get('augment_seed')
    if seed is None:
        seed = (cfg.get('randomness') or {}).get('seed')
    if seed is None:
        raise TeacherCacheError(
            'A teacher-output cache needs a fixed seed: set randomness.seed '
            '(or train_dataloader.sampler.augment_seed).')
    return int(seed)


def cache_teacher_parts(cfg: Config, precision: str = 'fp32'):
    """The teacher (loaded from ``model.teacher_ckpt``), the preprocessor
    it normalises with, and the fingerprint of both, as the distiller of
    ``cfg`` would build them."""
    model = config_model(cfg)
    if not is_distiller(model):
        raise TeacherCacheError(
            'tools/cache_teacher.py takes a distiller config (with '
            f'student, teacher_cfg and teacher_ckpt); got {model.type}.')
    registry = models_registry(cfg)
    t_cfg = teacher_model_cfg(model.get('teacher'), model.get('teacher_cfg'))
    ckpt = model.get('teacher_ckpt')
    if ckpt is None or not osp.isfile(ckpt):
        raise TeacherCacheError(
            f'model.teacher_ckpt "{ckpt}" does not exist: the cache is '
            'computed from the trained teacher.')
    # before building: builders fill in defaults inside the config dicts
    hashes = teacher_fingerprint(copy.deepcopy(t_cfg), ckpt)
    teacher = Teacher(t_cfg, ckpt, registry, None, model.get('teacher_cfg'),
                      owner='cache_teacher', precision=precision)
    if model.get('teacher_data_preprocessor') is not None:
        pre = registry.build(model.teacher_data_preprocessor)
    elif model.get('teacher_cfg') or t_cfg.get('data_preprocessor'):
        pre = teacher.data_preprocessor
    else:  # as the distiller: the student's (the config's) preprocessor
        pre = registry.build(model.student.get('data_preprocessor') or
                             model.get('data_preprocessor'))
    return teacher, pre, hashes


def read_sources(cfg: Config, extra: Sequence[str] = ()
                 ) -> Tuple[List[str], bool]:
    """The teacher modules whose outputs the config's distillation losses
    read (their ``inputs``) plus ``extra`` (module names, ``'teacher.'``
    optional), and whether they read ``'teacher.classifier'``."""
    sources = ['teacher.' + s if not s.startswith('teacher.') else s
               for s in extra]
    for loss in (config_model(cfg).get('distill_losses') or {}).values():
        sources += flat_sources(normalize_inputs(loss.get('inputs', [])))
    return teacher_modules(sources), 'teacher.classifier' in sources


def _by_module(store: FeatureStore) -> Dict[str, object]:
    """The captured outputs keyed by module name (without 'teacher.')."""
    return {k.split('.', 1)[1]: v for k, v in store.items()}


def _probe(teacher: Teacher, pre, dataset, index, modules: List[str],
           store: FeatureStore) -> Dict[str, dict]:
    """The manifest's ``sources``: the shapes of the ``modules``' outputs
    for one training sample, captured into ``store`` by hooks that stay for
    :func:`_fill`."""
    if not modules:
        return {}
    from mmengine.dataset import default_collate
    teacher.register_capture(modules, store)
    store.active = True
    try:
        with torch.no_grad():
            inputs = pre(default_collate([dataset[index]]), False)['inputs']
        teacher(lambda m, x: m.head(m.extract_feat(x)), inputs)
        return describe(_by_module(store))
    finally:
        store.clear()


def _manifest(cfg, dataset, teacher, hashes, epochs, dtype,
              variants: Optional[list], sources: Dict[str, dict],
              classifier: bool) -> dict:
    """``variants`` (the keys of a finite augmentation group) replace the
    epochs and the seed: the cache then serves any of them."""
    classes = count_classes(teacher.model)
    if classes is None:
        raise TeacherCacheError('Cannot tell the teacher\'s class count.')
    manifest = dict(version=VERSION, epochs=int(epochs),
                    num_samples=len(dataset), num_classes=classes,
                    dtype=dtype, seed=augment_seed(cfg),
                    replay_key=replay_key(dataset), hashes=hashes,
                    sources=sources, classifier=classifier)
    if variants:
        manifest.update(epochs=None, seed=None, variants=list(variants))
    return manifest


def cache_variants(dataset_cfg: dict, mode: str
                   ) -> Optional[List[Tuple[str, List[dict]]]]:
    """The finite augmentation group of the training pipeline (``mode``
    'auto'), or None: 'off', or a pipeline with other random transforms
    (or a wrapped dataset) - the cache then stores every epoch."""
    if mode not in ('auto', 'off'):
        raise ValueError(f"variants must be 'auto' or 'off', got {mode!r}")
    if mode == 'off' or 'pipeline' not in dataset_cfg:
        return None
    return pipeline_variants(dataset_cfg['pipeline'])


def _comparable(manifest: dict) -> dict:
    """A manifest without its format version, the keys newer versions
    added at their defaults (a version-2 cache is a version-3 one without
    teacher features, and is resumed as such)."""
    return dict(manifest, version=None,
                sources=manifest.get('sources') or {},
                classifier=bool(manifest.get('classifier')))


def _open_or_create(out: str, manifest: dict, rank: int, teacher: Teacher):
    """Resume a cache with the same manifest, create a new one, or refuse
    to overwrite another; return its logits, done and source arrays."""
    rows, samples = num_rows(manifest), manifest['num_samples']
    if osp.isfile(osp.join(out, 'manifest.json')):
        old, new = _comparable(read_manifest(out)), _comparable(manifest)
        if old != new:
            differ = sorted(k for k in new if old.get(k) != new[k])
            raise TeacherCacheError(
                f'"{out}" holds a teacher cache of another run (differs in '
                f'{differ}). Pass another --out or delete it.')
    elif rank == 0:
        os.makedirs(out, exist_ok=True)
        open_arrays(out, manifest, 'w+')
        open_source_arrays(out, manifest['sources'], rows, samples,
                           DTYPES[manifest['dtype']], 'w+')
        if manifest['classifier']:
            save_classifier(out, classifier_of(teacher.model, 'teacher'))
        write_manifest(out, manifest)  # last: the cache exists from here
    barrier()
    return (*open_arrays(out, manifest, 'r+'),
            open_source_arrays(out, manifest['sources'], rows, samples,
                               DTYPES[manifest['dtype']], 'r+'))


def _jobs(done: np.ndarray, manifest: dict, datasets: list, rank: int,
          world: int) -> List[Tuple[int, object, list]]:
    """(row, dataset, indices) of this rank's share of the rows not written
    yet: per variant its deterministic dataset and plain indices, or per
    epoch the training dataset and replayed indices."""
    jobs = []
    for row in range(done.shape[0]):
        todo = [i for i in np.flatnonzero(~done[row]).tolist()
                if i % world == rank]
        if not todo:
            continue
        if manifest.get('variants'):
            jobs.append((row, datasets[row], todo))
        else:
            jobs.append((row, datasets[0],
                         [ReplayIndex(i, manifest['seed'], row)
                          for i in todo]))
    return jobs


def build_teacher_cache(cfg: Config, out: str, epochs: Optional[int] = None,
                        dtype: str = 'fp16', batch_size: Optional[int] = None,
                        num_workers: Optional[int] = None,
                        precision: str = 'fp32', variants: str = 'auto',
                        log: Callable[[str], None] = print,
                        sources: Sequence[str] = ()) -> dict:
    """Write (or finish) the cache of ``cfg``'s teacher under ``out`` and
    return its manifest. ``variants='auto'`` stores each variant of a
    finite augmentation group once (:func:`cache_variants`), 'off' every
    epoch. Besides the logits it stores the teacher features the config's
    losses read, and those of ``sources`` (:func:`read_sources`). Each rank
    of a torchrun launch takes every ``world_size``-th sample."""
    if dtype not in DTYPES:
        raise ValueError(f'dtype must be one of {list(DTYPES)}, got {dtype}')
    init_default_scope(cfg.default_scope)
    from mmengine.registry import DATASETS
    loader_cfg = cfg.train_dataloader
    dataset = DATASETS.build(loader_cfg.dataset)
    if not isinstance(unwrap_dataset(dataset), ReplayMixin):
        raise TeacherCacheError(
            f'{type(dataset).__name__} does not replay its augmentation; '
            'use an mmrskd scene dataset.')
    group = cache_variants(loader_cfg.dataset, variants)
    teacher, pre, hashes = cache_teacher_parts(cfg, precision)
    datasets = [dataset] if group is None else [
        DATASETS.build(dict(loader_cfg.dataset, pipeline=p))
        for _, p in group]
    modules, classifier = read_sources(cfg, sources)
    store = FeatureStore()
    shapes = _probe(teacher, pre, datasets[0], 0 if group else ReplayIndex(
        0, augment_seed(cfg), 0), modules, store)
    manifest = _manifest(cfg, dataset, teacher, hashes,
                         epochs or cfg.train_cfg.max_epochs, dtype,
                         [k for k, _ in group or []], shapes, classifier)
    rank, world = get_dist_info()
    arrays = _open_or_create(out, manifest, rank, teacher)
    jobs = _jobs(arrays[1], manifest, datasets, rank, world)
    log(f'teacher cache {out}: '
        + (f'{len(group)} variants ({", ".join(manifest["variants"])}, '
           'any number of epochs)' if group else
           f'{manifest["epochs"]} epochs')
        + f' x {manifest["num_samples"]} samples, '
        + (f'logits and {modules}, ' if modules else '')
        + f'{sum(len(j[2]) for j in jobs)} rows to compute on rank '
        f'{rank}/{world}')
    _fill(jobs, teacher, pre, arrays, store,
          batch_size or loader_cfg.batch_size,
          loader_cfg.get('num_workers', 0) if num_workers is None
          else num_workers)
    barrier()
    return manifest


def _fill(jobs, teacher, pre, arrays, store, batch_size,
          num_workers) -> None:
    """Run the teacher over the ``jobs`` of :func:`_jobs` and write their
    rows (``arrays``: logits, done and the source arrays; ``store``: where
    the teacher's hooks capture the sources), flushing every batch so that
    a killed build loses at most one batch."""
    from mmengine.dataset import default_collate
    logits, done, source_arrays = arrays
    total = sum(len(indices) for _, _, indices in jobs)
    if not total:
        return
    bar = ProgressBar(total)
    for row, dataset, indices in jobs:
        loader = DataLoader(dataset, batch_size=batch_size, sampler=indices,
                            num_workers=num_workers,
                            collate_fn=default_collate)
        for batch in loader:
            store.active = True
            try:
                with torch.no_grad():
                    inputs = pre(batch, False)['inputs']
                out = teacher(lambda m, x: m.head(m.extract_feat(x)), inputs)
                index = np.array([int(s.sample_idx)
                                  for s in batch['data_samples']])
                logits[row, index] = out.float().numpy().astype(logits.dtype)
                logits.flush()
                write_rows(source_arrays, _by_module(store), row, index)
            finally:
                store.active = False
                store.clear()
            done[row, index] = True  # last: the row is complete
            done.flush()
            bar.update(len(index))  # one update per batch, not per image
