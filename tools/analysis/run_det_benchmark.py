# Copyright (c) mmrskd authors.
"""The real-data detection benchmark: Airbus aircraft at CPU scale, three
detector families, several seeds.

    python tools/analysis/run_det_benchmark.py --seeds 0 1 2   # run / resume
    nohup python tools/analysis/run_det_benchmark.py > det_bench.log 2>&1 &
    python tools/analysis/run_det_benchmark.py --methods fcos_alone fcos_dynkd
    python tools/analysis/run_det_benchmark.py --report-only

Data: ``--data-root`` is the Airbus Aircraft Detection sample set as it
ships (``annotations.csv``, ``train/``, ``valid/``). It is converted once
into ``<work dir>/data/airbus_256`` with the commands of
``configs/_base_/datasets/airbus_det.py`` (``airbus_to_dota.py``, then
``dota_split.py`` of train and valid: Pleiades 50 cm images halved, 256 px
patches, training patches without aircraft dropped), and every run reads it
(``{train,val,test}_dataloader.dataset.data_root``).

Protocol (``PROTOCOL`` below), for each family - RetinaNet, Faster R-CNN,
FCOS: the teacher ``configs/airbus/<family>_r50_fpn_airbus.py`` (R50-FPN,
trained once, seed 0), the student ``<family>_r18_fpn_airbus.py`` (R18-FPN)
alone and with dynamic KD (``dynkd_<family>_r50_r18_airbus.py``); for
RetinaNet and Faster R-CNN (its teacher is ahead of its student) also the
feature baselines FGD, PKD, CWD and MGD
(``{fgd,pkd,cwd,mgd}_<family>_r50_r18_airbus.py``; FCOS: with its 9-epoch
teacher), for FCOS also dynamic
KD with a tenth of GD's or of ISD's weight (``fcos_dynkd_gd01``,
``fcos_dynkd_isd01``). The configs' schedule:
3 epochs of batch 8 from scratch, lr 0.01 with warm-up and cosine. The
3-epoch R50-FPN teachers end below their R18-FPN students, so each family
is also run with a teacher of 9 epochs (``<family>_r50_fpn_9e_airbus.py``,
keys ``<family>-t9e_teacher``, ``<family>-t9e_dynkd``, ...; the same
students, the same student alone ``<family>_alone``). Every
student runs with every seed of ``--seeds`` (the training seed); a
distiller reads its family's teacher,
``<work dir>/<family>_teacher_s0/epoch_<max_epochs>.pth``. ``--methods``
picks runs by key (``retinanet_alone``, ``retinanet_dynkd``,
``retinanet_fgd``, ..., ``fcos_dynkd``, ``fcos_teacher``,
``fcos-t9e_dynkd``); the teacher of
a family with a picked distiller is always trained (a student alone does
not need it).

Every run is a plain ``tools/train.py`` process with its own work dir
``<work dir>/<key>_s<seed>`` (``--cfg-options randomness.seed=S``), then
``tools/test.py`` on its final checkpoint; ``result.json`` holds the test
metrics (VOC mAP@0.5, COCO AP, AP50, AP75) and the wall time. A finished
run is skipped later, and kept in ``--archive`` (committed,
``docs/bench/det_benchmark_runs.json``), from which a new work dir on the
same kind of machine restores it (``bench_archive.py``): a student alone
always, a distiller when its teacher's entry from that kind of machine
has the weights it was distilled from. A teacher is trained only when
one of its distillers has to run (it trains to the archived weights
there: bit-reproducible on one kind of machine; if it does not, the
restored distillers are dropped and train again). A run takes 40-80 min
on a 2-core CPU, so besides the epoch checkpoints an iteration checkpoint
is written every 50 iterations (the last two kept) and
``ResumableEpochBasedTrainLoop`` resumes within the epoch: a killed run
loses at most 50 iterations. After each run the report
(``--report``, by default ``docs/benchmarks.md``, a section after the
Airbus table) is rewritten with mean and std over the finished seeds and
the paired per-seed differences to the student alone. Several copies may
share one work dir to use several cores (``OMP_NUM_THREADS=1``, one copy
per core): each run is locked while it trains and the other copies skip it
(a distiller whose teacher another copy trains waits for it, doing other
runs first).
"""
import argparse
import functools
import glob
import os
import os.path as osp
import shutil
import subprocess
import sys
from typing import Dict, List, Optional, Tuple

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, ROOT)
from tools.analysis import bench_archive as archived  # noqa: E402
from tools.analysis import bench_runs  # noqa: E402
from tools.analysis.bench_runs import (data_options, paired,  # noqa: E402
                                       per_seed_diffs, reproduce_args,
                                       run_lock, summarise)

DATA_ROOT = osp.join(osp.dirname(ROOT), 'shared', 'data', 'airbus_aircraft')
#: finished runs kept across work dirs and machines of one kind
#: (:mod:`bench_archive`)
ARCHIVE = 'docs/bench/det_benchmark_runs.json'
TAG = 'det_benchmark'
START = '<!-- run_det_benchmark.py: start -->'
END = '<!-- run_det_benchmark.py: end -->'
#: the report goes at the end of this section of ``--report``
AFTER = '## Detection on real data: Airbus aircraft'
#: the marker written once the converted data set is complete
PREPARED = '.prepared'

#: an iteration checkpoint every 50 iterations (the two newest kept) beside
#: the epoch ones, and a loop that resumes from it within the epoch
CHECKPOINT_OPTIONS = [
    'train_cfg.type=ResumableEpochBasedTrainLoop',
    'default_hooks.iter_checkpoint.type=CheckpointHook',
    'default_hooks.iter_checkpoint.by_epoch=False',
    'default_hooks.iter_checkpoint.interval=50',
    'default_hooks.iter_checkpoint.max_keep_ckpts=2',
    'default_hooks.iter_checkpoint.save_last=False',
]
#: result.json key -> test metric (mmdet's VOCMetric and CocoMetric, 0-1);
#: results are stored in %
METRICS = dict(map50='pascal_voc/mAP', ap='coco/bbox_mAP',
               ap50='coco/bbox_mAP_50', ap75='coco/bbox_mAP_75')

log = functools.partial(bench_runs.log, tag=TAG)


def _family(name: str, label: str,
            baselines: Tuple[Tuple[str, str], ...] = (),
            variants: Tuple[Tuple[str, str, Tuple[str, ...]], ...] = (),
            teacher_epochs: Optional[int] = None,
            dynkd_revision: int = 0) -> dict:
    """A detector family's runs: teacher, student alone, distillers;
    ``variants``: ``(key suffix, label, --cfg-options)`` of dynamic KD;
    ``dynkd_revision``: raised when a change of mmrskd changes the results
    of the family's dynamic-KD runs (archived runs of another revision are
    not restored, a work dir of one is refused);
    ``teacher_epochs``: the teacher ``<name>_r50_fpn_<N>e_airbus.py``
    instead of the 3-epoch one, its runs keyed ``<name>-t<N>e_...`` but for
    the student alone, which reads no teacher: it is the 3-epoch family's
    (``<name>_alone``)."""
    dynkd = f'configs/airbus/dynkd_{name}_r50_r18_airbus.py'
    key = f'{name}-t{teacher_epochs}e' if teacher_epochs else name
    teacher = dict(key=f'{key}_teacher', label='teacher R50-FPN',
                   config=f'configs/airbus/{name}_r50_fpn_airbus.py')
    if teacher_epochs:
        teacher.update(
            label=f'teacher R50-FPN, {teacher_epochs} epochs',
            config=f'configs/airbus/{name}_r50_fpn_{teacher_epochs}e_'
            'airbus.py')
        label = f'{label}, teacher of {teacher_epochs} epochs'
    return dict(
        name=key, label=label, teacher=teacher,
        shares_alone=bool(teacher_epochs),
        students=[
            dict(key=f'{name}_alone', label='student R18-FPN alone',
                 config=f'configs/airbus/{name}_r18_fpn_airbus.py'),
            dict(key=f'{key}_dynkd', label='dynamic KD (GD + ISD + TSA)',
                 config=dynkd, distiller=True, revision=dynkd_revision),
            *[dict(key=f'{key}_dynkd_{suffix}', label=variant_label,
                   config=dynkd, distiller=True, options=list(options),
                   revision=dynkd_revision)
              for suffix, variant_label, options in variants],
            *[dict(key=f'{key}_{method}', label=method_label,
                   config=f'configs/airbus/{method}_{name}_r50_r18_airbus.py',
                   distiller=True)
              for method, method_label in baselines]])


#: 1: ISD's box pull of FCOS is the L1 of log(1 + d / stride), no longer
#: |d_s - d_t| / stride (whose gradient through exp() grows with d_s)
FCOS_DYNKD_REVISION = 1
#: dynamic KD with one or two of its parts switched off
PARTS = (('nogd', 'dynamic KD without GD (ISD + TSA)', ('model.gd=None', )),
         ('gd', 'GD only', ('model.isd=None', 'model.tsa=None')),
         ('isd', 'ISD only', ('model.gd=None', 'model.tsa=None')),
         ('tsa', 'TSA only', ('model.gd=None', 'model.isd=None')),
         # ISD's score imitation (binary KL) and box imitation apart
         ('isd_cls', 'ISD only, score imitation only',
          ('model.gd=None', 'model.tsa=None', 'model.isd.box_weight=0')),
         ('isd_box', 'ISD only, box imitation only',
          ('model.gd=None', 'model.tsa=None', 'model.isd.cls_weight=0')))
BASELINES = (('fgd', 'FGD'), ('pkd', 'PKD'), ('cwd', 'CWD'), ('mgd', 'MGD'))
PROTOCOL = dict(
    name='Airbus aircraft, 256 px patches, R50-FPN -> R18-FPN',
    families=[
        _family('retinanet', 'RetinaNet', BASELINES),
        # its 3-epoch teacher is ahead of its student (77.80 vs 74.43)
        _family('faster-rcnn', 'Faster R-CNN', BASELINES),
        # ablations of GD's and ISD's weights (at revision 0, FCOS's
        # distiller fell below its student alone and ISD's gradient was
        # 10.6 times the classification loss's: its distance pull, fixed
        # by revision 1)
        _family('fcos', 'FCOS', dynkd_revision=FCOS_DYNKD_REVISION,
                variants=(('gd01', 'dynamic KD, GD weight 0.1',
                           ('model.gd.loss_weight=0.1', )),
                          ('isd01', 'dynamic KD, ISD weight 0.1',
                           ('model.isd.loss_weight=0.1', )))),
        # the 3-epoch R50-FPN teachers end below their R18-FPN students
        # (FCOS 59.26 vs 66.68): the same families with a 9-epoch teacher
        _family('retinanet', 'RetinaNet', BASELINES, teacher_epochs=9),
        _family('faster-rcnn', 'Faster R-CNN', teacher_epochs=9),
        # which part of dynamic KD keeps FCOS below its student alone
        _family('fcos', 'FCOS', BASELINES, teacher_epochs=9,
                dynkd_revision=FCOS_DYNKD_REVISION, variants=PARTS),
    ])


def all_runs(protocol: dict) -> List[dict]:
    """Every run of the protocol, teachers included, each once (a student
    alone is in the family of each of its teachers)."""
    runs = {}
    for family in protocol['families']:
        for run in [family['teacher']] + family['students']:
            runs.setdefault(run['key'], run)
    return list(runs.values())


@functools.lru_cache(maxsize=None)
def max_epochs(config: str) -> int:
    """``train_cfg.max_epochs`` of ``config`` (relative to the repo)."""
    from mmengine.config import Config
    return Config.fromfile(osp.join(ROOT, config)).train_cfg.max_epochs


def teacher_checkpoint(work_dir: str, family: dict) -> str:
    """The final checkpoint of ``family``'s teacher (seed 0)."""
    teacher = family['teacher']
    return osp.join(work_dir, f'{teacher["key"]}_s0',
                    f'epoch_{max_epochs(teacher["config"])}.pth')


def prepare_commands(src: str, data_dir: str,
                     python: str) -> List[List[str]]:
    """The commands of ``configs/_base_/datasets/airbus_det.py`` that turn
    the sample set ``src`` into 256 px patches under ``<data_dir>/
    airbus_256`` (through ``<data_dir>/airbus_dota``, the DOTA layout)."""
    dota = osp.join(data_dir, 'airbus_dota')
    out = osp.join(data_dir, 'airbus_256')
    split = [python, 'tools/dataset_converters/dota_split.py']
    patches = ['--size', '256', '--gap', '0', '--rates', '0.5']
    return [
        [python, 'tools/dataset_converters/airbus_to_dota.py', src, dota],
        [*split, osp.join(dota, 'train'), osp.join(out, 'train'), *patches,
         '--skip-empty'],
        [*split, osp.join(dota, 'valid'), osp.join(out, 'val'), *patches],
    ]


def prepare_data(src: str, work_dir: str, python: str) -> str:
    """Convert the sample set ``src`` once into ``<work_dir>/data/
    airbus_256`` (kept when its marker says it is complete, redone from
    scratch otherwise); return that directory."""
    data_dir = osp.join(work_dir, 'data')
    out = osp.join(data_dir, 'airbus_256')
    os.makedirs(data_dir, exist_ok=True)
    with run_lock(work_dir, 'data', wait=True):
        if osp.isfile(osp.join(out, PREPARED)):
            return out
        if not osp.isfile(osp.join(src, 'annotations.csv')):
            raise FileNotFoundError(
                f'Airbus aircraft not found at "{src}" (expected the sample '
                'set as it ships: annotations.csv, train/, valid/). Pass '
                '--data-root.')
        log(f'converting {src} into {out}')
        for stale in (out, osp.join(data_dir, 'airbus_dota')):
            shutil.rmtree(stale, ignore_errors=True)
        with open(osp.join(data_dir, 'prepare.log'), 'a') as f:
            for cmd in prepare_commands(src, data_dir, python):
                if subprocess.run(cmd, cwd=ROOT, stdout=f,
                                  stderr=subprocess.STDOUT).returncode:
                    raise RuntimeError(
                        f'preparing the data failed: {" ".join(cmd)}; see '
                        f'{osp.join(data_dir, "prepare.log")}')
        with open(osp.join(out, PREPARED), 'w') as f:
            f.write(f'{src}\n')
    return out


def run_options(run: dict, seed: int, data_root: str,
                teacher_ckpt: Optional[str]) -> List[str]:
    """The ``--cfg-options`` of ``run`` with ``seed`` (``teacher_ckpt``:
    the distiller's teacher)."""
    options = [f'randomness.seed={seed}', *data_options(data_root),
               *CHECKPOINT_OPTIONS, *run.get('options', [])]
    if teacher_ckpt is not None:
        options.append(f'model.teacher_ckpt={teacher_ckpt}')
    return options


def resume_point(work_dir: str) -> Optional[str]:
    """The checkpoint ``--resume`` continues from: the one mmengine's
    ``last_checkpoint`` file names (an epoch or an iteration checkpoint)."""
    path = osp.join(work_dir, 'last_checkpoint')
    if not osp.isfile(path):
        return None
    with open(path) as f:
        ckpt = f.read().strip()
    return ckpt if osp.isfile(ckpt) else None


def run_one(run: dict, seed: int, work_dir: str, data_root: str,
            python: str, teacher_ckpt: Optional[str] = None) -> Dict:
    """Train (or resume) one run, test its final checkpoint, and write
    ``result.json``; return the result."""
    finished = bench_runs.load_result(work_dir)
    if finished is not None:
        check_revision(finished, run, work_dir)
        return finished
    os.makedirs(work_dir, exist_ok=True)
    options = run_options(run, seed, data_root, teacher_ckpt)
    final = osp.join(work_dir, f'epoch_{max_epochs(run["config"])}.pth')
    wall = bench_runs.train_run(run, seed, work_dir, final, options, python,
                                TAG, resume_point)
    metrics = bench_runs.evaluate_run(run, work_dir, final, options, python)
    result = dict(_want(run, seed),
                  **{k: 100 * metrics[m] for k, m in METRICS.items()},
                  metrics=metrics, wall_seconds=wall)
    bench_runs.save_result(work_dir, result)
    for ckpt in glob.glob(osp.join(work_dir, 'iter_*.pth')):
        os.remove(ckpt)  # a finished run needs only its epoch checkpoints
    log(f'{run["key"]} seed {seed}: mAP@0.5 {result["map50"]:.2f}')
    return result


def plan(protocol: dict, seeds: List[int],
         methods: Optional[List[str]] = None) -> List[Tuple[int, dict, dict]]:
    """The ``(seed, run, family)`` jobs in order: seed by seed, family by
    family, the family's teacher (seed 0, with the first seed) before its
    students; only the runs of ``methods`` when given, and the teacher of
    a family only when one of them is a distiller of that family (or the
    teacher itself): a student alone does not read it, and is planned
    once although each of its teachers' families lists it."""
    jobs, planned = [], set()
    for i, seed in enumerate(seeds):
        for family in protocol['families']:
            runs = [run for run in [family['teacher']] + family['students']
                    if methods is None or run['key'] in methods]
            needs_teacher = any(run.get('distiller')
                                or run is family['teacher'] for run in runs)
            if needs_teacher and i == 0:
                jobs.append((0, family['teacher'], family))
            for run in runs:
                if run is not family['teacher'] and \
                        (seed, run['key']) not in planned:
                    planned.add((seed, run['key']))
                    jobs.append((seed, run, family))
    return jobs


def _attempt(job: Tuple[int, dict, dict], work_dir: str, data_root: str,
             python: str, archive: Optional[str] = None) -> str:
    """Run ``job`` unless another copy holds it ('busy') or it is a
    distiller whose teacher is unfinished ('blocked'); 'done' otherwise."""
    seed, run, family = job
    if _finished(job, work_dir):
        return 'done'
    teacher_ckpt = None
    if run.get('distiller'):
        if not _finished((0, family['teacher'], family), work_dir):
            return 'blocked'
        teacher_ckpt = teacher_checkpoint(work_dir, family)
    name = f'{run["key"]}_s{seed}'
    with run_lock(work_dir, name, wait=False) as mine:
        if not mine:
            log(f'{run["key"]} seed {seed} is being run by another copy; '
                'skipped')
            return 'busy'
        _run_archived(job, work_dir, data_root, python, archive,
                      teacher_ckpt)
    return 'done'


def _finished(job: Tuple[int, dict, dict], work_dir: str) -> bool:
    """Whether ``job``'s run has its result here (a teacher: and its final
    checkpoint, which a teacher restored from the archive lacks)."""
    seed, run, family = job
    if bench_runs.load_result(
            osp.join(work_dir, f'{run["key"]}_s{seed}')) is None:
        return False
    return run is not family['teacher'] or osp.isfile(
        teacher_checkpoint(work_dir, family))


def _want(run: dict, seed: int) -> dict:
    """The result fields that make ``run`` of ``seed`` an experiment."""
    return dict(key=run['key'], seed=seed, config=run['config'],
                options=run.get('options', []),
                revision=run.get('revision', 0))


def check_revision(result: dict, run: dict, work_dir: str) -> None:
    """Refuse a finished run of ``work_dir`` made at another revision of
    ``run``'s method (its numbers are not what the code gives now)."""
    have, want = result.get('revision', 0), run.get('revision', 0)
    if have != want:
        raise SystemExit(
            f'{work_dir}: trained at revision {have} of {run["key"]}, the '
            f'benchmark is at revision {want} (mmrskd changed its results): '
            'move the directory away to train it again.')


def restore_without_teachers(jobs: List[Tuple[int, dict, dict]],
                             work_dir: str, archive: str
                             ) -> List[Tuple[int, dict, dict]]:
    """Restore from ``archive`` the distillers of ``jobs`` whose family's
    teacher is archived from this kind of machine, without training it: its
    recorded weight fingerprint stands for the weights a training here
    gives (bit-reproducible on one kind of machine, as the students alone
    restored from any entry assume). A teacher whose planned distillers
    all restore is not trained (its archived result is shown); the jobs
    left are returned. A teacher that trains here is compared with its
    entry afterwards (:func:`_check_teacher`)."""
    left = list(jobs)
    for job in jobs:
        _, teacher, family = job
        entry = teacher is family['teacher'] and archived.find(
            archive, _want(teacher, 0), max_epochs(teacher['config']))
        if not entry or not entry.get('weights_sha256'):
            continue
        names, restored = [], []
        with run_lock(work_dir, 'report', wait=True):
            for seed, run, fam in jobs:
                if fam is family and run.get('distiller'):
                    names.append(f'{run["key"]}_s{seed}')
                    restored += archived.restore(
                        archive, entry['weights_sha256'], work_dir,
                        max_epochs(run['config']),
                        {names[-1]: _want(run, seed)})
            if all(bench_runs.load_result(osp.join(work_dir, n))
                   for n in names):
                name = f'{teacher["key"]}_s0'
                restored += archived.restore(
                    archive, None, work_dir, max_epochs(teacher['config']),
                    {name: _want(teacher, 0)}, [name])
                left.remove(job)
        if restored:
            log(f'{family["name"]}: restored from {archive} without '
                f'training its teacher: {", ".join(restored)}')
    return left


def _check_teacher(family: dict, work_dir: str, archive: str,
                   weights: str) -> None:
    """After ``family``'s teacher trained here to ``weights`` (its
    fingerprint): if they differ from the archived teacher's of this
    machine kind (bit-reproducibility broken), drop the distillers
    restored with that one, so that no table mixes two teachers; they
    train again with this one."""
    teacher = family['teacher']
    entry = archived.find(archive, _want(teacher, 0),
                          max_epochs(teacher['config']))
    if not entry or entry.get('weights_sha256') in (None, weights):
        return
    log(f'WARNING: {teacher["key"]} trained here to other weights than '
        f'the one archived from this kind of machine; its restored '
        'distillers are dropped and train again')
    for run in filter(lambda r: r.get('distiller'), family['students']):
        for path in glob.glob(osp.join(work_dir, f'{run["key"]}_s*',
                                       'result.json')):
            if 'restored_from' in bench_runs.load_result(osp.dirname(path)):
                os.remove(path)


def _run_archived(job: Tuple[int, dict, dict], work_dir: str,
                  data_root: str, python: str, archive: Optional[str],
                  teacher_ckpt: Optional[str] = None) -> Dict:
    """:func:`run_one` of ``job``, first restored from ``archive`` when it
    holds the same experiment (a student alone: any entry; a distiller:
    one of its teacher's weights; a teacher is always trained, its
    checkpoint is needed), and archived when it trained here."""
    seed, run, family = job
    name = f'{run["key"]}_s{seed}'
    epochs = max_epochs(run['config'])
    is_teacher = run is family['teacher']
    fingerprint = archive and teacher_ckpt and _fingerprint(teacher_ckpt)
    if is_teacher and not _finished(job, work_dir):
        # its result restored from the archive, but a distiller needs
        # its weights: train it
        restored = osp.join(work_dir, name, 'result.json')
        if osp.isfile(restored):
            os.remove(restored)
    if archive and not is_teacher:
        want = _want(run, seed)
        with run_lock(work_dir, 'report', wait=True):
            if archived.restore(archive, fingerprint, work_dir, epochs,
                                {name: want},
                                [] if teacher_ckpt else [name]):
                log(f'{name}: restored from {archive}')
    result = run_one(run, seed, osp.join(work_dir, name), data_root, python,
                     teacher_ckpt)
    if archive and 'restored_from' not in result:
        if is_teacher:  # to compare a later training with
            result = dict(result, weights_sha256=_fingerprint(
                osp.join(work_dir, name, f'epoch_{epochs}.pth')))
        with run_lock(work_dir, 'report', wait=True):
            if is_teacher:
                _check_teacher(family, work_dir, archive,
                               result['weights_sha256'])
            archived.add(archive, result, fingerprint, epochs)
    return result


def _fingerprint(ckpt: str) -> str:
    """``bench_archive.weights_fingerprint`` of ``ckpt``, hashed once per
    file version (every distiller job of a family reads the same teacher,
    and the loop visits finished jobs again)."""
    return _fingerprint_of(ckpt, os.stat(ckpt).st_mtime_ns)


@functools.lru_cache(maxsize=None)
def _fingerprint_of(ckpt: str, mtime_ns: int) -> str:
    return archived.weights_fingerprint(ckpt)


def _wait_for_teacher(family: dict, work_dir: str, data_root: str,
                      python: str, archive: Optional[str] = None) -> None:
    """Wait until no other copy trains ``family``'s teacher; train it
    (resume it) if that copy stopped before finishing it."""
    teacher = family['teacher']
    name = f'{teacher["key"]}_s0'
    log(f'waiting for {teacher["key"]} (trained by another copy)')
    with run_lock(work_dir, name, wait=True):
        _run_archived((0, teacher, family), work_dir, data_root, python,
                      archive)


def run_benchmark(protocol: dict, seeds: List[int], work_dir: str,
                  report: str, data_root: str, python: str,
                  methods: Optional[List[str]] = None,
                  argv: Optional[List[str]] = None,
                  archive: Optional[str] = None) -> Dict:
    """Prepare the data once, then run (or resume) every job of
    :func:`plan`, rewriting the report after each; returns the results.
    ``archive``: the JSON file that keeps finished runs
    (:mod:`bench_archive`)."""
    work_dir = osp.abspath(work_dir)
    os.makedirs(work_dir, exist_ok=True)
    argv = argv or []
    data = prepare_data(osp.abspath(data_root), work_dir, python)
    pending = plan(protocol, seeds, methods)
    if archive:
        pending = restore_without_teachers(pending, work_dir, archive)
    while pending:
        blocked = []
        for job in pending:
            status = _attempt(job, work_dir, data, python, archive)
            if status == 'blocked':
                blocked.append(job)
            elif status == 'done':
                _report(protocol, work_dir, report, argv)
        if blocked and len(blocked) == len(pending):
            _wait_for_teacher(blocked[0][2], work_dir, data, python,
                              archive)
        pending = blocked
    return _report(protocol, work_dir, report, argv)[0]


def collect(protocol: dict, work_dir: str) -> Dict[str, List[dict]]:
    """Every finished run of the protocol in ``work_dir`` (all seeds); one
    made at another revision of its method is refused
    (:func:`check_revision`), so no report shows it."""
    runs = {run['key']: run for run in all_runs(protocol)}
    results = bench_runs.collect_runs(work_dir, list(runs))
    for key, finished in results.items():
        for result in finished:
            check_revision(result, runs[key],
                           osp.join(work_dir, f'{key}_s{result["seed"]}'))
    return results


def _teachers(protocol: dict) -> List[dict]:
    return [family['teacher'] for family in protocol['families']]


def finished_seeds(protocol: dict,
                   results: Dict[str, List[dict]]) -> List[int]:
    """The seeds of the finished student runs."""
    teachers = {run['key'] for run in _teachers(protocol)}
    return sorted({r['seed'] for k, rs in results.items()
                   if k not in teachers for r in rs})


def _report(protocol, work_dir, report, argv) -> Tuple[Dict, str]:
    """Collect every finished run and rewrite the report (one writer at a
    time when several copies share the work dir)."""
    with run_lock(work_dir, 'report', wait=True):
        results = collect(protocol, work_dir)
        text = write_report(protocol, results,
                            finished_seeds(protocol, results), report, argv)
    return results, text


def write_report(protocol: dict, results: Dict[str, List[dict]],
                 seeds: List[int], path: str, argv: List[str]) -> str:
    """Markdown with one table per family (the runs that finished), the
    command and the configs; written into ``path``'s section when given."""
    lines = [_header(protocol['name'], seeds), '']
    for family in protocol['families']:
        shown = _shown(family, results)
        if shown:
            lines += [f'#### {family["label"]}', '',
                      *_table(family, shown, results), '']
    lines += _reproduce(protocol, results, seeds, argv)
    text = '\n'.join(lines) + '\n'
    if path:
        bench_runs.write_section(path, text, START, END, AFTER)
    return text


def _shown(family: dict, results: Dict[str, List[dict]]) -> List[dict]:
    """The finished runs of ``family`` (none when its only finished run is
    the student alone it shares with the 3-epoch teacher's family)."""
    shown = [run for run in [family['teacher']] + family['students']
             if results.get(run['key'])]
    alone = family['students'][0]
    own = [run for run in shown
           if not family['shares_alone'] or run is not alone]
    return shown if own else []


def _header(name: str, seeds: List[int]) -> str:
    return (
        f'### {name}, several seeds\n\n'
        'Written by `tools/analysis/run_det_benchmark.py` (the protocol is '
        f'in its docstring); machine: {bench_runs.machine()}. Seeds '
        f'finished: {", ".join(map(str, seeds)) or "none"} (per model: the '
        '"seeds" column; teachers: seed 0 only); mean ± sample standard '
        'deviation over them, every run tested on the same validation '
        'patches. mAP@0.5 is mmdet\'s VOCMetric (area), COCO AP and AP75 '
        'its CocoMetric (bbox), in %. "vs alone" is the per-seed difference '
        'in mAP@0.5 to the same family\'s student alone (same seed): mean ± '
        "std [95 % confidence interval of the mean, Student's t]; an "
        'interval that excludes 0 is a significant difference.')


def _config(run: dict, path: bool = False) -> str:
    """The config of ``run`` (its file name, or its path) and the
    ``--cfg-options`` of a variant."""
    text = run['config'] if path else osp.basename(run['config'])
    options = run.get('options')
    return f'{text} --cfg-options {" ".join(options)}' if options else text


def _table(family: dict, runs: List[dict],
           results: Dict[str, List[dict]]) -> List[str]:
    alone = {r['seed']: r['map50']
             for r in results.get(family['students'][0]['key'], [])}
    lines = ['| model | config | seeds | mAP@0.5 | COCO AP | AP75 | '
             'vs alone | per-seed mAP@0.5 | wall min/run |',
             '|---|---|---|---|---|---|---|---|---|']
    for run in runs:
        rs = results[run['key']]
        map50 = [r['map50'] for r in rs]
        diffs = per_seed_diffs(rs, alone, 'map50') \
            if run.get('distiller') else []
        lines.append(
            f'| {run["label"]} | {_config(run)} | {len(rs)} | '
            f'{summarise(map50)} | {summarise([r["ap"] for r in rs])} | '
            f'{summarise([r["ap75"] for r in rs])} | {paired(diffs)} | '
            f'{", ".join(f"{v:.2f}" for v in map50)} | '
            f'{bench_runs.wall_minutes(rs)} |')
    return lines


def _reproduce(protocol: dict, results: Dict[str, List[dict]],
               seeds: List[int], argv: List[str]) -> List[str]:
    runs = all_runs(protocol)
    shown = [r['key'] for r in runs if results.get(r['key'])]
    students = [r['key'] for r in runs
                if r['key'] in shown and r not in _teachers(protocol)]
    methods = ['--methods', *students] \
        if students and len(shown) < len(runs) else []
    lines = [
        'Reproduce (resumable; safe to leave running in the background; to '
        'use several cores, start it once per core with '
        '`OMP_NUM_THREADS=1`):', '', '```bash',
        'python tools/analysis/run_det_benchmark.py '
        + ' '.join(reproduce_args(argv, seeds) + methods), '```', '',
        'Each run is `tools/train.py CONFIG --cfg-options randomness.seed=S` '
        '(plus the converted data root and the iteration checkpoints), then '
        '`tools/test.py` on its final checkpoint; a distiller reads '
        '`model.teacher_ckpt=<work dir>/<family>_teacher_s0/'
        'epoch_<max_epochs>.pth`. Configs:', '']
    for family in protocol['families']:
        done = _shown(family, results)
        if done:
            lines.append(f'- {family["label"]}: ' + ', '.join(
                f'{r["label"]} `{_config(r, path=True)}`' for r in done))
    return lines


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Multi-seed Airbus aircraft detection benchmark '
        '(resumable).')
    bench_runs.add_common_arguments(
        parser, [r['key'] for r in all_runs(PROTOCOL)],
        'only these runs (and the teachers of their distillers; default: '
        'all)',
        'work_dirs/det_benchmark', DATA_ROOT,
        'the Airbus Aircraft Detection sample set (annotations.csv, '
        'train/, valid/)')
    parser.add_argument('--archive', default=ARCHIVE,
                        help='JSON file that keeps every finished run (a '
                        "distiller's with its teacher's weight fingerprint); "
                        'a later call restores a student alone, and a '
                        'distiller once its teacher has the same weights '
                        '("" to switch off)')
    return parser.parse_args(argv)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    if bench_runs.report_only(args, argv,
                              functools.partial(_report, PROTOCOL)):
        return
    run_benchmark(PROTOCOL, args.seeds, args.work_dir, args.report,
                  args.data_root, args.python, args.methods,
                  bench_runs.shown_argv(argv), args.archive)


if __name__ == '__main__':
    main()
