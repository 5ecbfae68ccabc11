# Copyright (c) mmrskd authors.
"""The real-data accuracy benchmark: RSSCN7 at CPU scale, several seeds.

    python tools/analysis/run_rs_benchmark.py            # run / resume all
    nohup python tools/analysis/run_rs_benchmark.py > bench.log 2>&1 &
    python tools/analysis/run_rs_benchmark.py --report-only

Protocol (``PROTOCOL`` below): RSSCN7 (2,800 real scenes, 7 classes; by
default ../shared/data/RSSCN7_256, passed to every run as its data_root,
``--data-root`` to change it), 8:2 split with split seed 0 (the same 560
test images for every run), images resized to 72 px, random 64 px crops and
flips for training, the central 64 px crop for testing (runs finished
before this test pipeline tested the whole image resized to 64 px), 30
epochs SGD lr 0.05 momentum 0.9 wd 5e-4 cosine,
batch 64. Teacher ResNet-34 (trained once, seed 0); students an
eighth-width ResNet-18 (0.18 M parameters) alone, with KD, DKD (beta 8
and beta 2), ISDM (KD-term weight 4 and 1), ISDM without instance
scaling / without the dynamic margin, the post-DKD logit baselines (DIST,
NKD, MLKD single-view and two-view, CTKD, WTTM) and KD / DKD with logit
standardization, the feature baselines (FitNet, AT, RKD, CRD, ReviewKD,
SDD; AT also at a quarter of its weight), each with
every seed of ``--seeds`` (the training seed; the split does not change;
``--methods`` picks students).

Every run is a plain ``tools/train.py`` process with its own work dir under
``--work-dir``; a finished run leaves ``result.json`` (top-1/top-5 of the
final checkpoint from ``tools/test.py``, wall time) and is skipped later,
an interrupted one is resumed from its last checkpoint. After each run
``docs/benchmarks.md`` is rewritten with mean and std over the finished
seeds, so the script is safe to stop and start again, or to leave running
in the background. Several copies may share one work dir to use several
cores (``OMP_NUM_THREADS=1``, one copy per core): each run is locked while
it trains and the other copies skip it; the report holds every finished run
in the work dir.

``--teacher-cache`` (the way to run many seeds): the teacher's logits are
computed once (``tools/cache_teacher.py`` with the first distiller's config,
under ``<work dir>/teacher_cache``) and every distiller reads them instead
of running the teacher; the feature methods read a second cache that also
holds the teacher features they read (``teacher_cache_features``, the
protocol's ``feature_sources``). All runs, the student alone included,
then share the augmentation seed ``--augment-seed`` (default 0): seeds
differ in initialisation and sample order, and each seed's runs see the
same augmented images, so the per-seed differences are paired on those
too.

``--published-logits`` (default ``docs/bench/rsscn7_teacher_logits``,
:mod:`bench_cache`): the teacher's logits cache, published once with the
teacher's result and weight fingerprint. A teacher retrains to the same
weights only on the kind of machine that trained it; through the
published logits (with ``--teacher-cache``) the logit distillers run on
any machine without the teacher, and the archived runs that read these
logits (and the students alone) are restored whatever machine kind
recorded them: every distiller of the table read the same teacher. The
feature methods and the two-view MLKD read the teacher itself, so a call
with one of them trains it. The first call that builds a logits cache
publishes it there when the folder is empty (commit it).
"""
import argparse
import collections
import functools
import os
import os.path as osp
import subprocess
import sys
from typing import Callable, Dict, List, Optional, Sequence, Tuple

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, ROOT)
from mmrskd.models.distillers.teacher_cache import (  # noqa: E402
    LOGITS, file_sha256)
from tools.analysis import bench_archive as archived  # noqa: E402
from tools.analysis import bench_cache, bench_runs  # noqa: E402
from tools.analysis.bench_runs import (  # noqa: E402
    data_options, paired, per_seed_diffs, reproduce_args, run_lock, summarise)
DATA_ROOT = osp.join(osp.dirname(ROOT), 'shared', 'data', 'RSSCN7_256')
ARCHIVE = 'docs/bench/rs_benchmark_runs.json'
#: the published teacher logits (:mod:`bench_cache`)
PUBLISHED = 'docs/bench/rsscn7_teacher_logits'
#: ``model.teacher_ckpt`` of a distiller reading the published logits: no
#: checkpoint to check them against (mmengine reads ``None``); the cache
#: checks the data and augmentation itself
NO_CHECKPOINT = 'None'

ISDM = 'configs/rsscn7_cpu/isdm_r34_r18w8_rsscn7_cpu.py'
DKD = 'configs/rsscn7_cpu/dkd_r34_r18w8_rsscn7_cpu.py'
PROTOCOL = dict(
    name='RSSCN7, 64 px, 30 epochs, ResNet-34 -> 1/8-width ResNet-18',
    teacher=dict(key='teacher', label='teacher ResNet-34',
                 config='configs/rsscn7_cpu/resnet34_rsscn7_cpu.py',
                 epochs=100),
    students=[
        dict(key='alone', label='student alone',
             config='configs/rsscn7_cpu/resnet18w8_rsscn7_cpu.py'),
        dict(key='kd', label='KD',
             config='configs/rsscn7_cpu/kd_r34_r18w8_rsscn7_cpu.py'),
        dict(key='dkd', label='DKD (warm-up 3 epochs)', config=DKD),
        # beta 8 (the CIFAR preset) gives the non-target term ~10x the
        # cross-entropy's gradient on this 7-class, 0.18 M-parameter
        # student (tools/analysis/loss_balance.py, docs/benchmarks.md)
        dict(key='dkd_b2', label='DKD, beta 2', config=DKD,
             options=['model.distill_losses.loss_dkd.beta=2.0']),
        dict(key='isdm', label='ISDM', config=ISDM),
        # the KD term's weight of plain KD (1 instead of 4): ISDM's default
        # gives its loss ~9x the cross-entropy's gradient (loss_balance.py)
        dict(key='isdm_w1', label='ISDM, KD-term weight 1', config=ISDM,
             options=['model.distill_losses.loss_isdm.kd_weight=1.0']),
        dict(key='isdm_no_is', label='ISDM without instance scaling',
             config=ISDM,
             options=['model.distill_losses.loss_isdm.use_is=False']),
        dict(key='isdm_no_dm', label='ISDM without dynamic margin',
             config=ISDM,
             options=['model.distill_losses.loss_isdm.use_dm=False']),
        # the post-DKD logit baselines (docs/methods.md), their configs'
        # settings
        *[dict(key=key, label=label,
               config=f'configs/rsscn7_cpu/{key}_r34_r18w8_rsscn7_cpu.py')
          for key, label in (('dist', 'DIST'), ('nkd', 'NKD'),
                             ('mlkd', 'MLKD (single view)'),
                             ('ctkd', 'CTKD'), ('wttm', 'WTTM'))],
        # two views per image: the online teacher (a cache holds one view)
        dict(key='mlkd-strong', label='MLKD, weak + strong views',
             config='configs/rsscn7_cpu/mlkd-strong_r34_r18w8_rsscn7_cpu.py',
             online_teacher=True),
        # logit standardization with the paper's recipe: base T 2, weight 9
        dict(key='kd_ls', label='KD + logit standardization',
             config='configs/rsscn7_cpu/kd_r34_r18w8_rsscn7_cpu.py',
             options=['model.distill_losses.loss_kd.logit_standardize=True',
                      'model.distill_losses.loss_kd.temperature=2.0',
                      'model.distill_losses.loss_kd.loss_weight=9.0']),
        dict(key='dkd_ls', label='DKD + logit standardization', config=DKD,
             options=['model.distill_losses.loss_dkd.logit_standardize=True',
                      'model.distill_losses.loss_dkd.temperature=2.0',
                      'model.distill_losses.loss_dkd.alpha=9.0',
                      'model.distill_losses.loss_dkd.beta=72.0']),
        # the two above outweigh the labels (distillation / CE gradient 4.3
        # and 8.4 vs KD's 0.74, loss_balance.py): the same losses scaled to
        # about KD's balance - DKD + LS at DKD's own weights (alpha 1,
        # beta 8, i.e. the LS recipe's divided by 9), MLKD at a quarter
        dict(key='dkd_ls_a1b8', label='DKD + logit standardization, '
             'alpha 1, beta 8', config=DKD,
             options=['model.distill_losses.loss_dkd.logit_standardize=True',
                      'model.distill_losses.loss_dkd.temperature=2.0',
                      'model.distill_losses.loss_dkd.alpha=1.0',
                      'model.distill_losses.loss_dkd.beta=8.0']),
        dict(key='mlkd_w025', label='MLKD (single view), weight 0.25',
             config='configs/rsscn7_cpu/mlkd_r34_r18w8_rsscn7_cpu.py',
             options=['model.distill_losses.loss_mlkd.loss_weight=0.25']),
        # MLKD with logit standardization, its authors' MLKD recipe
        # (--base-temp 2 --kd-weight 9: the first temperature 2, weight 9)
        dict(key='mlkd_ls', label='MLKD (single view) + logit '
             'standardization',
             config='configs/rsscn7_cpu/mlkd_r34_r18w8_rsscn7_cpu.py',
             options=['model.distill_losses.loss_mlkd.logit_standardize=True',
                      'model.distill_losses.loss_mlkd.temperatures='
                      '(2.0,3.0,5.0,2.0,6.0)',
                      'model.distill_losses.loss_mlkd.loss_weight=9.0']),
        # the feature baselines, their configs' settings; through the
        # cache of the teacher features they read (FEATURE_SOURCES)
        *[dict(key=key, label=label, cache='features',
               config=f'configs/rsscn7_cpu/{key}_r34_r18w8_rsscn7_cpu.py')
          for key, label in (('fitnet', 'FitNet'), ('at', 'AT'),
                             ('rkd', 'RKD'), ('crd', 'CRD'),
                             ('reviewkd', 'ReviewKD'), ('sdd', 'SDD'))],
        # AT's weight 1000 (the paper's beta) gives loss_at 3.6x the
        # cross-entropy's gradient on this student (loss_balance.py, the
        # 100-epoch teacher); a quarter brings it to 0.9x
        dict(key='at_w250', label='AT, weight 250', cache='features',
             config='configs/rsscn7_cpu/at_r34_r18w8_rsscn7_cpu.py',
             options=['model.distill_losses.loss_at.loss_weight=250.0']),
    ],
    # what the feature methods read of the teacher, cached once for all, in
    # fp32: their runs are then the online teacher's bit for bit (fp16
    # rounding, amplified by AT's weight 1000, moves loss_at by 0.4 % within
    # 5 iterations on RSSCN7); 4.0 GB at fp16, 8.0 GB at fp32 for 30 epochs
    feature_dtype='fp32',
    feature_sources=('backbone.layer1', 'backbone.layer2', 'backbone.layer3',
                     'backbone.layer4', 'neck', 'classifier'),
    epochs=30)


START = '<!-- run_rs_benchmark.py: start -->'
END = '<!-- run_rs_benchmark.py: end -->'
log = functools.partial(bench_runs.log, tag='rs_benchmark')


def cache_options(cache: Optional[dict], reads_cache: bool) -> List[str]:
    """The ``--cfg-options`` of a run that shares ``cache`` (``dict(path,
    augment_seed)``; None: no cache): the augmentation seed for every run,
    the cache path for the distillers that read it."""
    if cache is None:
        return []
    out = [f'train_dataloader.sampler.augment_seed={cache["augment_seed"]}']
    if reads_cache:
        out.append(f'{archived.CACHE_PATH}{cache["path"]}')
    return out


def build_cache(protocol: dict, work_dir: str, data_root: str, python: str,
                teacher_ckpt: str, augment_seed: int,
                name: str = 'teacher_cache',
                sources: Sequence[str] = (), dtype: str = 'fp16') -> dict:
    """Build (or finish: the builder resumes) a teacher-output cache of
    the protocol under ``work_dir/<name>`` with the first distiller's
    config, with the teacher modules ``sources`` besides the logits; return
    the ``cache`` of :func:`cache_options`."""
    path = osp.join(work_dir, name)
    config = next(s['config'] for s in protocol['students']
                  if s['key'] != 'alone')
    cmd = [python, 'tools/cache_teacher.py', config, '--out', path,
           '--epochs', str(protocol['epochs']), '--dtype', dtype,
           *(['--sources', *sources] if sources else []), '--cfg-options',
           f'model.teacher_ckpt={teacher_ckpt}',
           f'train_dataloader.sampler.augment_seed={augment_seed}',
           *data_options(data_root)]
    log(f'teacher cache: {path}')
    with open(osp.join(work_dir, f'{name}.log'), 'a') as out:
        proc = subprocess.run(cmd, cwd=ROOT, stdout=out,
                              stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        raise RuntimeError('building the teacher cache failed; see '
                           f'{osp.join(work_dir, f"{name}.log")}. Run '
                           'the script again to resume it.')
    return dict(path=path, augment_seed=augment_seed)


def run_one(run: dict, seed: int, work_dir: str, epochs: int,
            data_root: str, python: str, teacher_ckpt: Optional[str],
            trained: Optional[str] = None,
            extra: Optional[List[str]] = None) -> Dict:
    """Train (or resume) one run, test its final checkpoint, and write
    ``result.json``; return the result. ``trained``: an existing checkpoint
    of this run's config and seed to test instead of training; ``extra``:
    more ``--cfg-options`` (the teacher cache's)."""
    finished = bench_runs.load_result(work_dir)
    if finished is not None:
        return finished
    os.makedirs(work_dir, exist_ok=True)
    options = [f'randomness.seed={seed}', f'train_cfg.max_epochs={epochs}',
               *data_options(data_root), *run.get('options', []),
               *(extra or [])]
    if teacher_ckpt is not None:
        options.append(f'model.teacher_ckpt={teacher_ckpt}')
    final = trained or osp.join(work_dir, f'epoch_{epochs}.pth')
    wall = bench_runs.train_run(run, seed, work_dir, final, options, python,
                                'rs_benchmark')
    metrics = bench_runs.evaluate_run(run, work_dir, final, options, python)
    result = dict(key=run['key'], seed=seed, config=run['config'],
                  options=run.get('options', []), extra=extra or [],
                  top1=metrics['accuracy/top1'],
                  top5=metrics['accuracy/top5'], wall_seconds=wall)
    bench_runs.save_result(work_dir, result)
    log(f'{run["key"]} seed {seed}: top-1 {result["top1"]:.2f}')
    return result


def write_report(protocol: dict, results: Dict[str, List[dict]],
                 seeds: List[int], path: str, argv: List[str]) -> str:
    """Markdown with mean ± sample std over the finished seeds: the rows of
    the runs that finished, and the command and configs that made them."""
    shown = [run for run in [protocol['teacher']] + protocol['students']
             if results.get(run['key']) or run['key'] == 'teacher']
    lines = [_header(protocol['name'], results, seeds), '',
             *_table(shown, results), '',
             *_reproduce(protocol, shown, seeds, argv)]
    text = '\n'.join(lines) + '\n'
    if path:
        bench_runs.write_section(path, text, START, END)
    return text


def _header(name: str, results: Dict[str, List[dict]],
            seeds: List[int]) -> str:
    return (
        f'## Accuracy on real data: {name}\n\n'
        'Written by `tools/analysis/run_rs_benchmark.py` (the protocol is in '
        f'its docstring); machine: {bench_runs.machine()}. Seeds finished: '
        f'{", ".join(map(str, seeds)) or "none"} (per method: the "seeds" '
        'column); mean ± sample standard deviation over them. The test set '
        'is the same 560 images in every run (1 image = 0.18 points). '
        '"vs alone" and "vs KD" are the per-seed differences in top-1 to '
        'the student alone and to KD (same seed): mean ± std [95 % '
        "confidence interval of the mean, Student's t]; an interval that "
        'excludes 0 is a significant difference.' + _cache_note(results)
        + _kinds_note(results))


def _table(runs: List[dict], results: Dict[str, List[dict]]) -> List[str]:
    alone = {r['seed']: r['top1'] for r in results.get('alone', [])}
    kd = {r['seed']: r['top1'] for r in results.get('kd', [])}
    lines = ['| model | seeds | top-1 (%) | top-5 (%) | vs alone | vs KD | '
             'per-seed top-1 | wall min/run |',
             '|---|---|---|---|---|---|---|---|']
    for run in runs:
        rs = sorted(results.get(run['key'], []), key=lambda r: r['seed'])
        top1 = [r['top1'] for r in rs]
        vs_alone = per_seed_diffs(rs, alone) \
            if run['key'] not in ('alone', 'teacher') else []
        vs_kd = per_seed_diffs(rs, kd) \
            if run['key'] not in ('alone', 'teacher', 'kd') else []
        wall = bench_runs.wall_minutes(rs)
        lines.append(
            f'| {run["label"]} | {len(rs)} | {summarise(top1)} | '
            f'{summarise([r["top5"] for r in rs])} | {paired(vs_alone)} | '
            f'{paired(vs_kd)} | '
            f'{", ".join(f"{v:.2f}" for v in top1) or "-"} | {wall} |')
    return lines


def _reproduce(protocol: dict, runs: List[dict], seeds: List[int],
               argv: List[str]) -> List[str]:
    students = [r['key'] for r in runs if r['key'] != 'teacher']
    methods = [] if len(students) == len(protocol['students']) else \
        ['--methods', *students]
    lines = [
        'Reproduce (resumable; safe to leave running in the background):',
        '', '```bash',
        'python tools/analysis/run_rs_benchmark.py '
        + ' '.join(reproduce_args(argv, seeds) + methods), '```', '',
        'To use several cores, start the same command once per core with '
        '`OMP_NUM_THREADS=1`: the copies share the work dir and each run is '
        'trained by one of them.', '',
        'Without `--teacher-ckpt` the script trains the teacher itself '
        '(`tools/train.py ' + protocol['teacher']['config'] + '`, seed 0); '
        'with it, that checkpoint (trained by the same command) is tested '
        'and used.', '',
        'Each run is `tools/train.py CONFIG --cfg-options randomness.seed=S` '
        'with the configs below, then `tools/test.py` on its final '
        'checkpoint:', '']
    for run in runs:
        opts = ' '.join(run.get('options', []))
        lines.append(f'- {run["label"]}: `{run["config"]}`'
                     + (f' `{opts}`' if opts else ''))
    return lines


def _cache_note(results: Dict[str, List[dict]]) -> str:
    """The report's sentence on the teacher cache, if the runs used one."""
    extra = {o for rs in results.values() for r in rs
             for o in r.get('extra', [])}
    seeds = sorted(o.split('=', 1)[1] for o in extra
                   if o.startswith('train_dataloader.sampler.augment_seed='))
    paths = _cache_paths(extra)
    if not paths:
        return ''
    features = any(p.endswith('teacher_cache_features') for p in paths)
    published = any(p.endswith(osp.basename(PUBLISHED)) for p in paths)
    return (' The distillers read the teacher\'s logits'
            + (' (the feature methods also its features, stored in fp32: '
               'their runs are the online teacher\'s bit for bit)'
               if features else '') + ' from a cache '
            '(`--teacher-cache`, built once by `tools/cache_teacher.py`'
            + (f'; published in `{PUBLISHED}`, read without training the '
               'teacher again' if published else '') + '); '
            f'every run uses augmentation seed {", ".join(seeds)}, so seeds '
            'differ in initialisation and sample order, and the runs of a '
            'seed see the same augmented images.')


def _cache_paths(extra) -> List[str]:
    """The teacher-cache paths among the ``--cfg-options`` ``extra``."""
    prefix = archived.CACHE_PATH
    return [o[len(prefix):] for o in extra if o.startswith(prefix)]


def _kinds_note(results: Dict[str, List[dict]]) -> str:
    """The report's sentence on the machine kinds of its runs (restored
    runs keep theirs; the others are this machine's), if several."""
    here = bench_runs.numerics()
    kinds = collections.Counter(
        '{cpu} ({capability})'.format(**dict(here, **(r.get('recorded_on')
                                                      or {})))
        for rs in results.values() for r in rs
        if r.get('restored_from') is None or r.get('recorded_on'))
    if len(kinds) < 2:
        return ''
    return (' The runs were recorded on several machine kinds (a run is '
            'bit-reproducible on its own kind only; the distillers all read '
            'the same published teacher logits): ' + ', '.join(
                f'{kind} {n}' for kind, n in kinds.most_common()) + '.')


def collect(protocol: dict, work_dir: str) -> Dict[str, List[dict]]:
    """Every finished run of the protocol in ``work_dir`` (all seeds)."""
    return bench_runs.collect_runs(
        work_dir, [run['key'] for run in
                   [protocol['teacher']] + protocol['students']])


def _report(protocol, work_dir, report, argv) -> Tuple[Dict, str]:
    """Collect every finished run and rewrite the report (one writer at a
    time when several copies share the work dir)."""
    with run_lock(work_dir, 'report', wait=True):
        results = collect(protocol, work_dir)
        text = write_report(protocol, results, finished_seeds(results),
                            report, argv)
    return results, text


def finished_seeds(results: Dict[str, List[dict]]) -> List[int]:
    return sorted({r['seed'] for k, rs in results.items() if k != 'teacher'
                   for r in rs})


def run_benchmark(protocol: dict, seeds: List[int], work_dir: str,
                  report: str, data_root: str, python: str,
                  methods: Optional[List[str]] = None,
                  argv: Optional[List[str]] = None,
                  teacher_ckpt: Optional[str] = None,
                  augment_seed: Optional[int] = None,
                  archive: Optional[str] = None,
                  published: Optional[str] = None) -> Dict:
    """Run (or resume) every seed of every student; ``augment_seed`` not
    None: through one teacher-output cache (module docstring); ``archive``:
    the JSON file that keeps finished runs (:mod:`bench_archive`);
    ``published``: the folder of the published teacher-logit cache
    (:mod:`bench_cache`): read instead of a teacher when no job needs the
    teacher itself, written when none is there yet."""
    if not osp.isdir(data_root):
        raise FileNotFoundError(
            f'RSSCN7 not found at "{data_root}" (expected the dataset as it '
            'ships: one folder per class, e.g. aGrass/, bField/). Pass '
            '--data-root.')
    os.makedirs(work_dir, exist_ok=True)
    argv = argv or []
    jobs = [(seed, run) for seed in seeds  # a seed's methods, then the next
            for run in protocol['students']
            if methods is None or run['key'] in methods]
    shared = _usable_cache(published, augment_seed, teacher_ckpt, jobs)
    if shared:
        protocol, fingerprint = _from_published(shared, augment_seed,
                                                protocol, work_dir, archive,
                                                jobs)
        teacher_ckpt = NO_CHECKPOINT
    else:
        teacher_ckpt = _teacher(protocol, work_dir, data_root, python,
                                teacher_ckpt)
        if augment_seed is not None:
            protocol = _with_caches(protocol, jobs, work_dir, data_root,
                                    python, teacher_ckpt, augment_seed)
        fingerprint = _restore(archive, teacher_ckpt, protocol, work_dir,
                               jobs)
        _publish(published, protocol, work_dir, fingerprint)
    for seed, run in jobs:
        _run_job(protocol, seed, run, work_dir, data_root, python,
                 teacher_ckpt, archive, fingerprint)
        _report(protocol, work_dir, report, argv)
    return _report(protocol, work_dir, report, argv)[0]


def _teacher(protocol: dict, work_dir: str, data_root: str, python: str,
             teacher_ckpt: Optional[str]) -> str:
    """Train (or test the given ``teacher_ckpt`` of) the protocol's
    teacher; return its checkpoint."""
    teacher = protocol['teacher']
    epochs = teacher.get('epochs', protocol['epochs'])
    if teacher_ckpt is not None and not osp.isfile(teacher_ckpt):
        raise FileNotFoundError(f'--teacher-ckpt "{teacher_ckpt}" does not '
                                'exist.')
    with run_lock(work_dir, 'teacher_s0', wait=True):  # students need it
        t = run_one(teacher, 0, osp.join(work_dir, 'teacher_s0'), epochs,
                    data_root, python, None, trained=teacher_ckpt)
    log(f'teacher top-1 {t["top1"]:.2f}')
    return teacher_ckpt or osp.join(work_dir, 'teacher_s0',
                                    f'epoch_{epochs}.pth')


def _run_job(protocol: dict, seed: int, run: dict, work_dir: str,
             data_root: str, python: str, teacher_ckpt: str,
             archive: Optional[str], fingerprint: Optional[str]) -> None:
    """Run one job unless another copy holds it; archive its result with
    the hash of the teacher logits it read (``cache_sha256``)."""
    name = f'{run["key"]}_s{seed}'
    extra = _extra(protocol, run)
    with run_lock(work_dir, name, wait=False) as mine:
        if not mine:
            log(f'{run["key"]} seed {seed} is being run by another copy; '
                'skipped')
            return
        result = run_one(run, seed, osp.join(work_dir, name),
                         protocol['epochs'], data_root, python,
                         teacher_ckpt if run['key'] != 'alone' else None,
                         extra=extra)
    if fingerprint is not None and 'restored_from' not in result:
        for path in _cache_paths(extra):  # the cache it read
            result = dict(result, cache_sha256=file_sha256(
                osp.join(path, LOGITS)))
        with run_lock(work_dir, 'report', wait=True):
            archived.add(archive, result, fingerprint, protocol['epochs'])


def _needs_teacher(run: dict) -> bool:
    """Whether ``run`` reads more of the teacher than its logits (the
    teacher's features, or the online teacher)."""
    return run.get('cache') == 'features' or bool(run.get('online_teacher'))


def _usable_cache(published: Optional[str], augment_seed: Optional[int],
                  teacher_ckpt: Optional[str],
                  jobs: List[Tuple[int, dict]]) -> Optional[dict]:
    """The published cache, when the call can run on it alone: through a
    cache (``augment_seed``) of its augmentation seed, without a teacher
    checkpoint of its own, and no job reading more than the logits."""
    shared = bench_cache.load(published) if augment_seed is not None \
        else None
    if not shared or teacher_ckpt is not None:
        return None
    if shared['augment_seed'] not in (None, augment_seed):  # None: any
        log(f'{published} holds augmentation seed {shared["augment_seed"]}'
            f', not {augment_seed}: the teacher trains here')
        return None
    needs = sorted({run['key'] for _, run in jobs if _needs_teacher(run)})
    if needs:
        log(f'{", ".join(needs)} read the teacher itself: it trains here '
            f'(the logits of {published} serve when it trains to their '
            'weights, on the machine kind that computed them)')
        return None
    return shared


def _from_published(shared: dict, augment_seed: int, protocol: dict,
                    work_dir: str, archive: Optional[str],
                    jobs: List[Tuple[int, dict]]) -> Tuple[dict, str]:
    """The protocol reading the published logits, its teacher's result
    restored; the archived runs that read those logits restored whatever
    machine kind recorded them (and the students alone beside them)."""
    teacher = osp.join(work_dir, 'teacher_s0')
    if bench_runs.load_result(teacher) is None:
        os.makedirs(teacher, exist_ok=True)
        bench_runs.save_result(teacher, dict(
            shared['teacher'], restored_from=shared['path']))
    log(f'teacher logits from {shared["path"]} (teacher top-1 '
        f'{shared["teacher"]["top1"]:.2f}, weights '
        f'{shared["weights_sha256"][:8]}...); the teacher is not trained')
    cache = dict(path=shared['path'], augment_seed=augment_seed)
    protocol = dict(protocol, caches=dict(logits=cache))
    fingerprint = shared['weights_sha256']
    _restore(archive, None, protocol, work_dir, jobs, fingerprint,
             lambda e: e['key'] == 'alone'
             or bench_cache.read_these_logits(e, shared))
    return protocol, fingerprint


def _publish(published: Optional[str], protocol: dict, work_dir: str,
             fingerprint: Optional[str]) -> None:
    """Publish the logits cache built here when none is published yet;
    warn when the published one is of another teacher."""
    cache = (protocol.get('caches') or {}).get('logits')
    if not published or not cache or fingerprint is None:
        return
    shared = bench_cache.load(published)
    if shared:
        if shared['weights_sha256'] != fingerprint:
            log(f'WARNING: the teacher here has other weights than the one '
                f'published in {published} ({fingerprint[:8]}... vs '
                f'{shared["weights_sha256"][:8]}..., trained on '
                f'{shared["numerics"]}): this table is of this teacher, '
                'and its distillers train again')
        return
    teacher = bench_runs.load_result(osp.join(work_dir, 'teacher_s0'))
    bench_cache.publish(cache['path'], published, teacher, fingerprint)
    log(f'published the teacher logits in {published} (commit it: later '
        'calls on any machine read them instead of training the teacher)')


def _with_caches(protocol: dict, jobs: List[Tuple[int, dict]],
                 work_dir: str, data_root: str, python: str,
                 teacher_ckpt: str, augment_seed: int) -> dict:
    """The protocol with its teacher caches (``caches``: 'logits', and
    'features' when a job reads the teacher's features), built if needed."""
    caches = {}
    with run_lock(work_dir, 'teacher_cache', wait=True):
        caches['logits'] = build_cache(protocol, work_dir, data_root,
                                       python, teacher_ckpt, augment_seed)
    if any(run.get('cache') == 'features' for _, run in jobs):
        with run_lock(work_dir, 'teacher_cache_features', wait=True):
            caches['features'] = build_cache(
                protocol, work_dir, data_root, python, teacher_ckpt,
                augment_seed, 'teacher_cache_features',
                protocol['feature_sources'], protocol['feature_dtype'])
    return dict(protocol, caches=caches)


def _extra(protocol: dict, run: dict) -> List[str]:
    """The teacher cache's ``--cfg-options`` of ``run`` (none without a
    cache; the cache path only for distillers that read it: the features
    cache for those marked ``cache='features'``)."""
    caches = protocol.get('caches') or {}
    distiller = run['key'] != 'alone'
    return cache_options(caches.get(run.get('cache', 'logits')),
                         distiller and not run.get('online_teacher'))


def _restore(archive: Optional[str], teacher_ckpt: Optional[str],
             protocol: dict, work_dir: str, jobs: List[Tuple[int, dict]],
             fingerprint: Optional[str] = None,
             portable: Callable[[dict], bool] = lambda entry: False
             ) -> Optional[str]:
    """Restore the archived runs of this teacher (``fingerprint``, or that
    of ``teacher_ckpt``) that ``jobs`` asks for (recorded on this machine
    kind, or ``portable``); return the fingerprint (None: no archive, or
    no checkpoint file to fingerprint)."""
    if not archive:
        return None
    if fingerprint is None:
        if not osp.isfile(teacher_ckpt):
            return None
        fingerprint = archived.weights_fingerprint(teacher_ckpt)
    expected = {f'{run["key"]}_s{seed}': dict(
        key=run['key'], seed=seed, config=run['config'],
        options=run.get('options', []), extra=_extra(protocol, run))
        for seed, run in jobs}
    teacher_free = [f'alone_s{seed}' for seed, run in jobs
                    if run['key'] == 'alone']
    with run_lock(work_dir, 'report', wait=True):
        names = archived.restore(archive, fingerprint, work_dir,
                                 protocol['epochs'], expected, teacher_free,
                                 portable=portable)
    if names:
        log(f'restored {len(names)} finished runs (of this teacher, or '
            f'reading none) from '
            f'{archive}: {", ".join(names)}')
    return fingerprint


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Multi-seed RSSCN7 accuracy benchmark (resumable).')
    bench_runs.add_common_arguments(
        parser, [s['key'] for s in PROTOCOL['students']],
        'only these students (default: all)', 'work_dirs/rs_benchmark',
        DATA_ROOT)
    parser.add_argument('--teacher-ckpt',
                        help='a teacher already trained with the protocol '
                        "(the teacher config, seed 0): test it instead of "
                        'training it again')
    parser.add_argument('--teacher-cache', action='store_true',
                        help='compute the teacher once into a cache that '
                        'every distiller reads (all runs then share one '
                        'augmentation seed, --augment-seed)')
    parser.add_argument('--augment-seed', type=int, default=0)
    parser.add_argument('--archive', default=ARCHIVE,
                        help='JSON file that keeps every finished run with '
                        'its teacher\'s weight fingerprint and the '
                        'machine\'s numerics; a later call with the same '
                        'teacher weights on the same kind of machine '
                        'restores them ("" to switch off)')
    parser.add_argument('--published-logits', default=PUBLISHED,
                        help='folder of the published teacher logits '
                        '(bench_cache.py): with --teacher-cache the logit '
                        'distillers read them and the teacher is not '
                        'trained; a teacher trained here publishes its '
                        'logits there if it is empty ("" to switch off)')
    return parser.parse_args(argv)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    if bench_runs.report_only(args, argv,
                              functools.partial(_report, PROTOCOL)):
        return
    run_benchmark(PROTOCOL, args.seeds, args.work_dir, args.report,
                  args.data_root, args.python, args.methods,
                  bench_runs.shown_argv(argv),
                  args.teacher_ckpt,
                  args.augment_seed if args.teacher_cache else None,
                  args.archive, args.published_logits)


if __name__ == '__main__':
    main()
