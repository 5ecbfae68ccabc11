# Copyright (c) mmrskd authors.
"""The generic steps of the resumable real-data benchmarks
(``run_rs_benchmark.py``, ``run_det_benchmark.py``).

One run is a plain ``tools/train.py`` process with its own work dir
(resumed from its last checkpoint when interrupted, its wall time summed
over all its sessions), then ``tools/test.py`` on its final checkpoint. A
finished run leaves ``result.json``; :func:`collect_runs` gathers those of a
work dir. :func:`run_lock` lets several copies of a benchmark share one work
dir. The report is a section between two markers of a Markdown file
(:func:`write_section`), with mean ± std over seeds (:func:`summarise`) and
paired per-seed differences with a Student's t interval (:func:`paired`).
"""
import argparse
import contextlib
import fcntl
import glob
import json
import os
import os.path as osp
import platform
import statistics
import subprocess
import sys
import time
from typing import Callable, Dict, List, Optional, Sequence

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def log(msg: str, tag: str = 'benchmark') -> None:
    print(f'[{tag} {time.strftime("%H:%M:%S")}] {msg}', flush=True)


def last_checkpoint(work_dir: str) -> Optional[str]:
    """The ``epoch_<n>.pth`` of ``work_dir`` with the largest n."""
    ckpts = glob.glob(osp.join(work_dir, 'epoch_*.pth'))
    return max(ckpts, key=lambda p: int(p.rsplit('_', 1)[1][:-4])) \
        if ckpts else None


def data_options(data_root: str) -> List[str]:
    """The ``--cfg-options`` that point every loader at ``data_root``."""
    return [f'{split}_dataloader.dataset.data_root={data_root}'
            for split in ('train', 'val', 'test')]


def add_common_arguments(parser: argparse.ArgumentParser,
                         methods: List[str], methods_help: str,
                         work_dir: str, data_root: str,
                         data_help: Optional[str] = None) -> None:
    """The arguments every benchmark takes: ``--seeds``, ``--methods``
    (choices ``methods``), ``--work-dir``, ``--report``, ``--data-root``,
    ``--python`` and ``--report-only``."""
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    parser.add_argument('--methods', nargs='+', choices=methods,
                        help=methods_help)
    parser.add_argument('--work-dir', default=work_dir)
    parser.add_argument('--report', default='docs/benchmarks.md')
    parser.add_argument('--data-root', default=data_root, help=data_help)
    parser.add_argument('--python', default=sys.executable)
    parser.add_argument('--report-only', action='store_true',
                        help='rewrite the report from finished runs only')


def load_result(work_dir: str) -> Optional[dict]:
    """The ``result.json`` of the run of ``work_dir`` (None: unfinished)."""
    path = osp.join(work_dir, 'result.json')
    if not osp.isfile(path):
        return None
    with open(path) as f:
        return json.load(f)


def save_result(work_dir: str, result: dict) -> None:
    """Write ``result.json``: the run of ``work_dir`` is finished."""
    with open(osp.join(work_dir, 'result.json'), 'w') as f:
        json.dump(result, f, indent=2)


def train_run(run: dict, seed: int, work_dir: str, final: str,
              options: List[str], python: str, tag: str = 'benchmark',
              resume_point: Callable[[str], Optional[str]] = last_checkpoint
              ) -> Optional[float]:
    """``tools/train.py`` of ``run['config']`` until ``final`` exists
    (``--resume`` when ``resume_point(work_dir)`` finds a checkpoint);
    returns the wall seconds of all its sessions."""
    wall_file = osp.join(work_dir, 'wall_seconds.json')
    wall = None
    if osp.isfile(wall_file):
        with open(wall_file) as f:
            wall = json.load(f)
    if osp.isfile(final):
        return wall
    cmd = [python, 'tools/train.py', run['config'], '--work-dir', work_dir]
    if resume_point(work_dir):
        cmd.append('--resume')
        log(f'resuming {run["key"]} seed {seed} from '
            f'{resume_point(work_dir)}', tag)
    else:
        log(f'training {run["key"]} seed {seed}', tag)
    cmd += ['--cfg-options', *options]
    t0, wall = time.time(), wall or 0.0
    with open(osp.join(work_dir, 'run.log'), 'a') as out:
        proc = subprocess.run(cmd, cwd=ROOT, stdout=out,
                              stderr=subprocess.STDOUT)
    wall += time.time() - t0
    with open(wall_file, 'w') as f:
        json.dump(wall, f)
    if proc.returncode != 0 or not osp.isfile(final):
        raise RuntimeError(
            f'{run["key"]} seed {seed} failed (exit {proc.returncode}); '
            f'see {osp.join(work_dir, "run.log")}. Run the script again '
            'to resume it.')
    return wall


def evaluate_run(run: dict, work_dir: str, final: str, options: List[str],
             python: str) -> Dict:
    """``tools/test.py`` on ``final``; returns its metrics."""
    metrics_file = osp.join(work_dir, 'test_metrics.json')
    cmd = [python, 'tools/test.py', run['config'], final, '--work-dir',
           osp.join(work_dir, 'test'), '--out', metrics_file, '--out-item',
           'metrics', '--cfg-options', *options]
    with open(osp.join(work_dir, 'test.log'), 'w') as out:
        proc = subprocess.run(cmd, cwd=ROOT, stdout=out,
                              stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        raise RuntimeError(f'testing {final} failed; see '
                           f'{osp.join(work_dir, "test.log")}')
    with open(metrics_file) as f:
        return json.load(f)


@contextlib.contextmanager
def run_lock(work_dir: str, name: str, wait: bool):
    """An exclusive lock on run ``name`` of ``work_dir``; yields whether it
    was acquired (``wait=False`` gives up at once if another process holds
    it). Released when the block ends or the process dies."""
    with open(osp.join(work_dir, f'.{name}.lock'), 'w') as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def collect_runs(work_dir: str, keys: Sequence[str]) -> Dict[str, List[dict]]:
    """The ``result.json`` of every finished ``<key>_s<seed>`` run of
    ``work_dir`` (all seeds, sorted by seed)."""
    results: Dict[str, List[dict]] = {}
    for key in keys:
        paths = glob.glob(osp.join(work_dir, f'{key}_s*', 'result.json'))
        for path in paths:
            seed = osp.basename(osp.dirname(path))[len(key) + 2:]
            if not seed.isdigit():  # e.g. a copied kd_s0_old
                continue
            with open(path) as f:
                results.setdefault(key, []).append(json.load(f))
        if key in results:
            results[key].sort(key=lambda r: r['seed'])
    return results


def wall_minutes(runs: List[dict]) -> str:
    """The mean ``wall_seconds`` of ``runs`` in minutes ('-': none)."""
    walls = [r['wall_seconds'] for r in runs if r['wall_seconds']]
    return f'{statistics.mean(walls) / 60:.1f}' if walls else '-'


def summarise(values: List[float]) -> str:
    if not values:
        return '-'
    if len(values) == 1:
        return f'{values[0]:.2f}'
    return f'{statistics.mean(values):.2f} ± {statistics.stdev(values):.2f}'


#: two-sided 95 % quantiles of Student's t for 1..30 degrees of freedom
T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262,
        2.228, 2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101,
        2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052,
        2.048, 2.045, 2.042)


def t975(df: int) -> float:
    """The 97.5 % quantile of Student's t (table up to 30 degrees of
    freedom, Cornish-Fisher expansion beyond: error < 0.001)."""
    if df < 1:
        raise ValueError(f'df must be >= 1, got {df}')
    if df <= len(T975):
        return T975[df - 1]
    z = 1.959964
    return (z + (z**3 + z) / (4 * df)
            + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2))


def per_seed_diffs(runs: List[dict], ref: Dict[int, float],
                   metric: str = 'top1') -> List[float]:
    """``metric`` of each run minus ``ref``'s value of the same seed."""
    return [r[metric] - ref[r['seed']] for r in runs if r['seed'] in ref]


def paired(diffs: List[float]) -> str:
    """Mean per-seed difference ± its std and the 95 % confidence interval
    of the mean: ``+1.23 ± 0.40 [+0.24, +2.22]``."""
    if not diffs:
        return '-'
    m = statistics.mean(diffs)
    if len(diffs) == 1:
        return f'{m:+.2f}'
    sd = statistics.stdev(diffs)
    h = t975(len(diffs) - 1) * sd / len(diffs) ** 0.5
    return f'{m:+.2f} ± {sd:.2f} [{m - h:+.2f}, {m + h:+.2f}]'


def reproduce_args(argv: List[str], seeds: List[int]) -> List[str]:
    """The command-line arguments without ``--seeds``/``--methods`` (which
    differ between copies sharing a work dir), with ``--seeds`` set to the
    seeds of the report."""
    out, skip = [], False
    for a in argv:
        if a.startswith('--'):
            skip = a in ('--seeds', '--methods')
        if not skip:
            out.append(a)
    return (['--seeds', *map(str, seeds)] if seeds else []) + out


def shown_argv(argv: List[str]) -> List[str]:
    """The command line a report shows: ``argv`` without
    ``--report-only``."""
    return [a for a in argv if a != '--report-only']


def report_only(args: argparse.Namespace, argv: List[str],
                report: Callable) -> bool:
    """``--report-only``: rewrite the report from the finished runs of
    ``args.work_dir`` (``report(work_dir, path, argv)`` returns the table
    and its text), print it and return True; otherwise False."""
    if not args.report_only:
        return False
    os.makedirs(args.work_dir, exist_ok=True)  # for the report lock
    print(report(args.work_dir, args.report, shown_argv(argv))[1])
    return True


def write_section(path: str, text: str, start: str, end: str,
                  after: Optional[str] = None) -> None:
    """Replace the section of ``path`` between the markers ``start`` and
    ``end`` with ``text``, keeping whatever else the file holds. Without
    the markers the section is added at the end of the file (a new file
    gets a title), or, when the file has the heading line ``after``, at
    the end of that heading's section (before the next heading of its
    level or above)."""
    section = f'{start}\n{text}{end}\n'
    old = ''
    if osp.isfile(path):
        with open(path) as f:
            old = f.read()
    if start in old and end in old:
        new = old[:old.index(start)] + section + \
            old[old.index(end) + len(end):].lstrip('\n')
    elif after and _section_end(old, after) is not None:
        at = _section_end(old, after)
        new = old[:at].rstrip('\n') + '\n\n' + section + \
            ('\n' + old[at:] if old[at:] else '')
    else:
        new = (old.rstrip('\n') + '\n\n' if old else '# Benchmarks\n\n') \
            + section
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    with open(path, 'w') as f:
        f.write(new)


def _section_end(text: str, heading: str) -> Optional[int]:
    """The offset where the section under the line ``heading`` (e.g.
    ``## Results``) ends: the next heading of its level or above, or the
    end of ``text``; None without that heading."""
    level = len(heading) - len(heading.lstrip('#'))
    offset, inside, fenced = 0, False, False
    for line in text.splitlines(keepends=True):
        fenced ^= line.startswith('```')
        hashes = len(line) - len(line.lstrip('#'))
        if inside and not fenced and 0 < hashes <= level and \
                line[hashes:hashes + 1] == ' ':
            return offset
        if line.rstrip('\n') == heading:
            inside = True
        offset += len(line)
    return offset if inside else None


def machine() -> str:
    """``<CPU>, <n> cores, no GPU, Python <version>``."""
    return (f'{cpu_name()}, {os.cpu_count()} cores, no GPU, Python '
            f'{platform.python_version()}')


def numerics() -> Dict[str, str]:
    """What besides the experiment decides a run's floating-point results
    on this machine: ``cpu`` (model name), ``capability`` (the vector
    instruction set PyTorch dispatches to, e.g. ``AVX2``, ``AVX512``) and
    ``torch`` (its version)."""
    import torch
    return dict(cpu=cpu_name(),
                capability=torch.backends.cpu.get_cpu_capability(),
                torch=torch.__version__)


def cpu_name() -> str:
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
