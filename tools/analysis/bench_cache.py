# Copyright (c) mmrskd authors.
"""A benchmark's teacher-logit cache published beside its run archive, so
that the logit distillers run on any machine without the teacher.

A teacher trains to the same weights only on the kind of machine it was
trained on (:mod:`bench_archive`), and the RSSCN7 protocol's takes an hour;
its logits over the whole schedule (30 epochs x 2,240 training images x 7
classes, fp16: under 1 MB) are what every logit distiller reads. Published
once (``publish``: ``tools/cache_teacher.py``'s manifest and arrays, plus
``teacher.json`` with the teacher's test result, the fingerprint of its
weights, the SHA-256 of the logits and the machine kind they were computed
on), they let any later call skip the teacher: the distillers read these
very logits, so their runs on every machine kind are distillations from one
teacher, and an archived run that read them is restored on any machine kind
(:func:`read_these_logits`), as a student alone is. The feature methods
read the teacher's features, which are not published: they still need the
teacher itself.
"""
import json
import os
import os.path as osp
import shutil
from typing import Optional

from mmrskd.models.distillers.teacher_cache import (DONE, LOGITS, MANIFEST,
                                                    TeacherCache,
                                                    TeacherCacheError,
                                                    file_sha256)
from tools.analysis.bench_archive import same_numerics
from tools.analysis.bench_runs import numerics

TEACHER = 'teacher.json'


def publish(cache: str, dest: str, teacher: dict, fingerprint: str) -> dict:
    """Copy the logits of the complete cache ``cache`` (a teacher-output
    cache of ``tools/cache_teacher.py`` without features) to ``dest`` with
    ``teacher.json``: ``teacher`` (the teacher's result), ``fingerprint``
    (its weights') and the logits' SHA-256; return what :func:`load`
    returns."""
    manifest = TeacherCache(cache).manifest  # refuses an incomplete one
    if manifest.get('sources'):
        raise TeacherCacheError(
            f'{cache} holds teacher features: publish a logits-only cache')
    os.makedirs(dest, exist_ok=True)
    for name in (MANIFEST, LOGITS, DONE):
        shutil.copyfile(osp.join(cache, name), osp.join(dest, name))
    info = dict(teacher=teacher, weights_sha256=fingerprint,
                logits_sha256=file_sha256(osp.join(dest, LOGITS)),
                augment_seed=manifest['seed'],  # None: any (variants)
                numerics=numerics())
    with open(osp.join(dest, TEACHER), 'w') as f:
        json.dump(info, f, indent=1, sort_keys=True)
        f.write('\n')
    return load(dest)


def load(dest: str) -> Optional[dict]:
    """The published cache at ``dest``: ``teacher.json`` plus its ``path``
    (None if nothing is published there); a cache whose logits are not the
    ones ``teacher.json`` names is refused."""
    if not dest or not osp.isfile(osp.join(dest, TEACHER)):
        return None
    with open(osp.join(dest, TEACHER)) as f:
        info = json.load(f)
    logits = osp.join(dest, LOGITS)
    if not osp.isfile(logits) or file_sha256(logits) != info['logits_sha256']:
        raise TeacherCacheError(
            f'{dest}: {LOGITS} is missing or is not the one {TEACHER} names '
            f'(SHA-256 {info["logits_sha256"][:8]}...); restore it from git '
            'or remove the folder to publish a new teacher.')
    TeacherCache(dest)  # complete and readable
    return dict(info, path=osp.abspath(dest))


def read_these_logits(entry: dict, published: dict) -> bool:
    """Whether archived run ``entry`` distilled from the published logits:
    it names them (``cache_sha256``), or - entries written before that
    field - it was distilled from the same teacher weights on the machine
    kind that computed them (where a cache of those weights has these
    logits bit for bit)."""
    if entry.get('teacher_sha256') != published['weights_sha256']:
        return False
    if 'cache_sha256' in entry:
        return entry['cache_sha256'] == published['logits_sha256']
    return same_numerics(entry, published['numerics'])
