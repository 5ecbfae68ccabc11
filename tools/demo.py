# Copyright (c) mmrskd authors.
"""`make demo`: distil a small student on generated aerial scenes.

Generates the scene set (``data/demo_scenes``, regenerated when its
settings changed), trains the ResNet-34 teacher once (seed 0), caches its
outputs with ``tools/cache_teacher.py``, then trains the student alone, with
KD and with ISDM for every seed (the distillers read the cache). Each run is
a ``tools/train.py`` subprocess whose full log goes to
``<work-dir>/logs/``; the terminal shows one progress line per run and the
results table, also written to ``<work-dir>/results.md``,
``results.json`` and the bar chart ``demo_top1.png``. ``--verbose`` shows
the runner logs on the terminal too, instead of the progress lines.

A run's top-1 is its final validation, which the scene configs run on the
test split with the final weights (what ``tools/test.py`` reports for the
last checkpoint).
"""
import argparse
import json
import os
import os.path as osp
import shutil
import subprocess
import sys
import time
from typing import Dict, List, Optional

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, ROOT)

from tools.misc import demo_report  # noqa: E402
from tools.misc.run_progress import (ProgressPrinter,  # noqa: E402
                                     format_seconds, run_with_progress)

#: the generated scene set (tools/misc/make_demo_dataset.py options)
DATA = dict(per_class=80, size=64, seed=0)
DATA_ROOT = 'data/demo_scenes'
#: seeds of the student runs (the teacher is trained once, with seed 0)
SEEDS = (0, 1, 2)
#: the augmentation seed every run shares (the teacher cache replays it)
AUGMENT_SEED = 0
TEACHER = dict(key='teacher', name='teacher ResNet-34',
               config='configs/demo/resnet34_demo.py')
#: the student runs, in table order; ``distill``: reads the teacher cache
STUDENTS = [
    dict(key='alone', name='student alone',
         config='configs/demo/resnet18_demo.py', distill=False),
    dict(key='kd', name='student + KD',
         config='configs/demo/kd_r34_r18_demo.py', distill=True),
    dict(key='isdm', name='student + ISDM',
         config='configs/demo/isdm_r34_r18_demo.py', distill=True),
]
TITLE = 'mmrskd demo: generated aerial scenes, test split'


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--data-root', default=DATA_ROOT)
    parser.add_argument('--work-dir', default='work_dirs/demo')
    parser.add_argument('--epochs', type=int, default=None,
                        help='override the schedule length of every run')
    parser.add_argument('--seeds', type=int, nargs='+', default=SEEDS,
                        help='seeds of the student runs (default 0 1 2)')
    parser.add_argument('--verbose', action='store_true',
                        help='show the runner logs instead of the progress '
                        'lines')
    return parser.parse_args(argv)


def ensure_data(data_root: str, log_dir: str, verbose: bool) -> None:
    """Generate the scene set with :data:`DATA` unless ``data_root`` holds
    it (recorded in ``data_root/demo_settings.json``). A folder without
    that record is used as it is, except the default ``data/demo_scenes``
    (the demo's own folder, made by an earlier version: regenerated)."""
    root = osp.join(ROOT, data_root)
    stamp = osp.join(root, 'demo_settings.json')
    if osp.isfile(stamp):
        with open(stamp) as f:
            if json.load(f) == DATA:
                return
    elif osp.isdir(root) and data_root != DATA_ROOT:
        return
    if osp.isdir(root):
        shutil.rmtree(root)
    cmd = [sys.executable, 'tools/misc/make_demo_dataset.py', data_root,
           '--per-class', str(DATA['per_class']), '--size', str(DATA['size']),
           '--seed', str(DATA['seed'])]
    print(f'generating the scene set in {data_root}', flush=True)
    run_logged(cmd, osp.join(log_dir, 'make_demo_dataset.log'), verbose)
    with open(stamp, 'w') as f:
        json.dump(DATA, f)


def run_logged(cmd: List[str], log_path: str, verbose: bool) -> None:
    """Run ``cmd`` with its output in ``log_path`` (and on the terminal
    when ``verbose``); exit naming the log when it fails."""
    with open(log_path, 'w') as log:
        if not verbose:
            code = subprocess.run(cmd, cwd=ROOT, stdout=log,
                                  stderr=subprocess.STDOUT).returncode
        else:
            print('+', ' '.join(cmd), flush=True)
            proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, text=True)
            for line in proc.stdout:
                sys.stdout.write(line)
                log.write(line)
            code = proc.wait()
    if code != 0:
        fail(cmd, log_path, verbose)


def fail(cmd: List[str], log_path: str, verbose: bool) -> None:
    """Show the end of the failed command's log and exit."""
    if not verbose and osp.isfile(log_path):
        with open(log_path) as f:
            tail = f.readlines()[-20:]
        sys.stderr.write(''.join(tail))
    sys.exit(f'\nfailed: {" ".join(cmd)}\nfull log: {log_path}')


def progress_config(config: str, out_dir: str) -> str:
    """Write ``out_dir/<config name>``: ``config`` with a
    ``ProgressRecordHook`` added to its ``custom_hooks`` (it writes
    ``<run work dir>/progress.jsonl``); return its path."""
    from mmengine.config import Config
    hooks = [dict(h) for h in Config.fromfile(osp.join(ROOT, config)).get(
        'custom_hooks', [])]
    hooks.append(dict(type='ProgressRecordHook', path='progress.jsonl'))
    path = osp.join(out_dir, osp.basename(config))
    with open(path, 'w') as f:
        f.write(f'# {config} with the progress records of tools/demo.py\n'
                f'_base_ = [{osp.join(ROOT, config)!r}]\n'
                f'custom_hooks = {hooks!r}\n')
    return path


def data_options(data_root: str, epochs: Optional[int]) -> List[str]:
    """The ``--cfg-options`` every run shares."""
    opts = [f'{split}_dataloader.dataset.data_root={data_root}'
            for split in ('train', 'val', 'test')]
    opts.append(f'train_dataloader.sampler.augment_seed={AUGMENT_SEED}')
    if epochs:
        opts += [f'train_cfg.max_epochs={epochs}',
                 f'train_cfg.val_interval={epochs}',
                 f'param_scheduler.T_max={epochs}']
    return opts


class Demo:
    """The runs of one demo: where they write, how they show progress."""

    def __init__(self, args):
        self.args = args
        self.work_dir = osp.join(ROOT, args.work_dir)
        self.log_dir = osp.join(self.work_dir, 'logs')
        self.config_dir = osp.join(self.work_dir, 'configs')
        os.makedirs(self.log_dir, exist_ok=True)
        os.makedirs(self.config_dir, exist_ok=True)
        self.options = data_options(args.data_root, args.epochs)
        self.name_width = max(len(r['name']) for r in [TEACHER, *STUDENTS])

    def train(self, run: Dict, seed: int, extra: List[str]) -> Dict:
        """Train ``run`` with ``seed``; return its result (top-1 of the
        final validation, wall time, last checkpoint)."""
        tag = f'{run["key"]}_seed{seed}'
        work_dir = osp.join(self.work_dir, tag)
        progress = osp.join(work_dir, 'progress.jsonl')
        if osp.isfile(progress):
            os.remove(progress)
        cmd = [sys.executable, 'tools/train.py',
               progress_config(run['config'], self.config_dir),
               '--work-dir', work_dir, '--cfg-options', *self.options,
               f'randomness.seed={seed}', *extra]
        log_path = osp.join(self.log_dir, f'{tag}.log')
        start = time.time()
        if self.args.verbose:
            run_logged(cmd, log_path, verbose=True)
        else:
            label = f'{run["name"]:<{self.name_width}}  seed {seed}'
            printer = ProgressPrinter(label, sys.stdout)
            if run_with_progress(cmd, ROOT, log_path, progress, printer):
                fail(cmd, log_path, verbose=False)
        return dict(run=run['name'], seed=seed, top1=final_top1(progress),
                    seconds=round(time.time() - start, 1),
                    checkpoint=last_checkpoint(work_dir))

    def build_cache(self, teacher_ckpt: str) -> str:
        """Cache the teacher's outputs for the students' schedule; return
        the cache folder (rebuilt: the teacher may have changed)."""
        path = osp.join(self.work_dir, 'teacher_cache')
        if osp.isdir(path):
            shutil.rmtree(path)
        config = next(r['config'] for r in STUDENTS if r['distill'])
        cmd = [sys.executable, 'tools/cache_teacher.py', config, '--out',
               path, '--cfg-options', *self.options,
               f'model.teacher_ckpt={teacher_ckpt}']
        if not self.args.verbose:
            print('caching the teacher outputs', flush=True)
        run_logged(cmd, osp.join(self.log_dir, 'teacher_cache.log'),
                   self.args.verbose)
        return path


def final_top1(progress_path: str) -> float:
    """The top-1 of the run's last validation (its ``'end'`` record)."""
    with open(progress_path) as f:
        records = [json.loads(line) for line in f if line.strip()]
    end = [r for r in records if r['event'] == 'end']
    if not end or end[-1]['top1'] is None:
        raise RuntimeError(f'{progress_path}: the run ended without a '
                           'validation (top-1).')
    return end[-1]['top1']


def last_checkpoint(work_dir: str) -> str:
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        return f.read().strip()


def main(argv=None):
    args = parse_args(argv)
    start = time.time()
    demo = Demo(args)
    print(f'mmrskd demo: 1 teacher + {len(STUDENTS)} student runs x '
          f'{len(args.seeds)} seeds; full logs in {demo.log_dir}', flush=True)
    ensure_data(args.data_root, demo.log_dir, args.verbose)
    teacher = demo.train(TEACHER, 0, [])
    cache = demo.build_cache(teacher['checkpoint'])
    results = [teacher]
    for run in STUDENTS:
        extra = [f'model.teacher_ckpt={teacher["checkpoint"]}',
                 f'model.teacher_cache.path={cache}'] if run['distill'] \
            else []
        results += [demo.train(run, seed, extra) for seed in args.seeds]
    alone = STUDENTS[0]['name']
    rows = demo_report.summarize(results, alone)
    wall = time.time() - start
    info = dict(title=TITLE, data=DATA, seeds=list(args.seeds),
                epochs=args.epochs, wall_seconds=round(wall, 1),
                runs=results)
    paths = demo_report.write_results(rows, demo.work_dir, alone, info,
                                      TITLE)
    print(f'\n{TITLE} (total {format_seconds(wall)})\n')
    print(demo_report.results_table(rows, alone))
    print(f'\nwritten: {paths["md"]}, {paths["json"]}, {paths["png"]}\n'
          f'full logs: {demo.log_dir}')
    return rows


if __name__ == '__main__':
    main()
