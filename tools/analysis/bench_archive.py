# Copyright (c) mmrskd authors.
"""Finished runs of the real-data benchmarks (``run_rs_benchmark.py``,
``run_det_benchmark.py``) kept in a JSON file that can be committed
(``--archive``), so that nothing is lost with a work dir.

A benchmark's work dir holds checkpoints (hundreds of MB) and is not kept
between machines; its results are a few hundred bytes per run. Each
finished student run is appended to the archive with the fingerprint of
the teacher weights it was distilled from. A later call (a new work dir,
a new machine) that trains or is given a teacher with the *same weights*
restores the archived runs as finished runs of its work dir, so only the
missing seeds train; runs of any other teacher are never mixed in. A run
that reads no teacher (the student alone) is the same experiment under
every teacher: it is restored from the entry of any teacher.

Bit-reproducibility holds on one kind of machine only: the same seed on
another CPU (another vector instruction set: oneDNN and ATen pick other
kernels, which sum in another order) or another torch gives other weights
(measured: RSSCN7's student alone, seed 0, 80.71 % on the Intel Xeon
machines, 81.07 % on an AMD EPYC without AVX-512). Every entry therefore
records ``bench_runs.numerics()`` (CPU model, the instruction set PyTorch
dispatches to, torch version) and is restored only where they are the
same; a field an entry lacks (entries written before it existed) is not
compared, and an entry without ``numerics`` at all is never restored.

The fingerprint is a SHA-256 over the teacher checkpoint's ``state_dict``
(names, shapes, dtypes and bytes of every tensor), not over the file:
mmengine's checkpoints also hold timestamps and the optimizer state, which
differ between two trainings that give the same weights.
"""
import hashlib
import json
import os
import os.path as osp
from typing import Callable, Dict, List, Optional, Sequence

from tools.analysis.bench_runs import numerics

#: the ``--cfg-options`` prefix of the teacher cache a distiller reads
CACHE_PATH = 'model.teacher_cache.path='
#: ``--cfg-options`` that name a path of one work dir (not the experiment)
_LOCAL_OPTIONS = (CACHE_PATH, )


def weights_fingerprint(ckpt: str) -> str:
    """SHA-256 of the weights in checkpoint ``ckpt`` (module docstring)."""
    import torch

    from mmrskd.utils.state_dict import checkpoint_state, read_checkpoint
    state = checkpoint_state(read_checkpoint(ckpt, 'Teacher checkpoint'))
    digest = hashlib.sha256()
    for name in sorted(state):
        tensor = state[name]
        if not torch.is_tensor(tensor):
            continue
        digest.update(f'{name}|{tuple(tensor.shape)}|{tensor.dtype}|'
                      .encode())
        digest.update(tensor.detach().contiguous().view(-1).view(
            torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def same_numerics(entry: dict, here: Dict[str, str]) -> bool:
    """Whether ``entry`` was recorded on numerics ``here`` (a field the
    entry lacks is not compared; no ``numerics`` at all: False)."""
    recorded = entry.get('numerics')
    return isinstance(recorded, dict) and all(
        recorded.get(k) in (None, v) for k, v in here.items())


def _experiment(result: dict, epochs: int) -> tuple:
    """What makes two runs the same experiment: method, seed, config,
    options, schedule, the run's own ``--cfg-options`` without paths, and
    the method's ``revision`` (0 if not given; a benchmark raises it when a
    change of mmrskd changes the method's results)."""
    extra = [o for o in result.get('extra', [])
             if not o.startswith(_LOCAL_OPTIONS)]
    return (result['key'], result['seed'], result['config'],
            tuple(result.get('options', [])), tuple(extra), epochs,
            result.get('revision', 0))


def load(path: str) -> List[dict]:
    """The archived entries (``[]`` if there is no archive yet)."""
    if not path or not osp.isfile(path):
        return []
    with open(path) as f:
        data = json.load(f)
    if not isinstance(data, dict) or not isinstance(data.get('runs'), list):
        raise ValueError(f'{path}: not a run archive (expected an object '
                         'with a "runs" list); pass another --archive')
    return data['runs']


def add(path: str, result: dict, fingerprint: str, epochs: int) -> None:
    """Record a finished run (replacing an entry of the same experiment
    and teacher). The caller holds the work dir's report lock."""
    entry = dict(result, epochs=epochs, teacher_sha256=fingerprint,
                 numerics=numerics())
    key = (_experiment(entry, epochs), fingerprint)
    runs = [r for r in load(path)
            if (_experiment(r, r['epochs']), r['teacher_sha256']) != key
            or not same_numerics(r, entry['numerics'])]
    runs.append(entry)
    runs.sort(key=lambda r: (r['key'], r['seed']))
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    tmp = f'{path}.tmp'
    with open(tmp, 'w') as f:
        json.dump(dict(runs=runs), f, indent=1)
        f.write('\n')
    os.replace(tmp, path)


def find(path: str, want: dict, epochs: int,
         here: Optional[Dict[str, str]] = None) -> Optional[dict]:
    """The archived entry of experiment ``want`` (key, seed, config,
    options, extra) recorded on numerics ``here`` (default: this
    machine's), under any teacher; None if there is none."""
    here = here or numerics()
    for entry in load(path):
        if _experiment(entry, entry['epochs']) == _experiment(want, epochs) \
                and same_numerics(entry, here):
            return entry
    return None


def restore(path: str, fingerprint: str, work_dir: str, epochs: int,
            expected: Dict[str, dict],
            teacher_free: Sequence[str] = (),
            here: Optional[Dict[str, str]] = None,
            portable: Callable[[dict], bool] = lambda entry: False
            ) -> List[str]:
    """Write ``result.json`` into ``work_dir/<name>`` for every archived run
    of teacher ``fingerprint`` that ``expected`` (run name -> the result
    fields the current call would give it: key, seed, config, options,
    extra) asks for and the work dir has not finished; return the names.
    The runs named in ``teacher_free`` read no teacher: any teacher's
    entry of the same experiment restores them. Only entries recorded on
    numerics ``here`` (default: this machine's, ``bench_runs.numerics()``)
    count, and those for which ``portable`` is true (a distiller that read
    a published teacher cache, :mod:`bench_cache`); the others are named in
    one printed line. A restored result keeps the numerics it was recorded
    on (``recorded_on``)."""
    here = here or numerics()
    restored, elsewhere = [], []
    for entry in load(path):
        name = f'{entry["key"]}_s{entry["seed"]}'
        if entry['teacher_sha256'] != fingerprint and \
                name not in teacher_free:
            continue
        want = expected.get(name)
        if want is None or _experiment(entry, entry['epochs']) != \
                _experiment(want, epochs):
            continue
        result_file = osp.join(work_dir, name, 'result.json')
        if osp.isfile(result_file):
            continue
        if not same_numerics(entry, here) and not portable(entry):
            elsewhere.append(name)
            continue
        os.makedirs(osp.dirname(result_file), exist_ok=True)
        result = {k: v for k, v in entry.items()
                  if k not in ('epochs', 'teacher_sha256', 'numerics')}
        with open(result_file, 'w') as f:
            json.dump(dict(result, restored_from=path,
                           recorded_on=entry.get('numerics')), f, indent=2)
        restored.append(name)
    elsewhere = sorted(set(elsewhere) - set(restored))
    if elsewhere:
        print(f'{path}: not restored, recorded on another machine kind or '
              f'torch (here: {here}): {", ".join(elsewhere)}', flush=True)
    return restored
