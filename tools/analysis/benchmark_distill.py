# Copyright (c) mmrskd authors.
"""Time a distillation step against its physical limit, side by side.

    python tools/analysis/benchmark_distill.py \\
        configs/demo/kd_r34_r18_demo.py configs/demo/dkd_r34_r18_demo.py \\
        configs/demo/isdm_r34_r18_demo.py \\
        --batch-size 32 --size 64 --out work_dirs/bench.json --memory

For each config, on one fixed synthetic batch and in this one process, three
steps are timed, all steps of all configs in one rotation (after warm-up;
median of ``--iters``):

- ``student``: the student's own train step (forward, loss, backward,
  optimizer step) on the batch, without any distillation;
- ``teacher``: the teacher's forward on the same batch (``no_grad``);
- ``distill``: the distiller's full train step.

``limit = student + teacher`` is what distillation cannot go below (the
teacher has to run once, the student has to learn); ``ratio = distill /
limit`` is the method's cost over that limit, and ``vs <baseline>`` its cost
over the first config (or ``--baseline``), e.g. ISDM over plain KD. With
``--memory`` each step kind also runs in a fresh process and its peak
resident memory (RSS) is reported.

The teacher keeps its random initialisation (timing does not depend on its
weights), so no checkpoint is needed.
"""
import argparse
import json
import multiprocessing as mp
import os
import os.path as osp
import platform
import resource
import statistics
import sys
import tempfile
import time
from typing import Callable, Dict, Optional

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

import torch  # noqa: E402
from mmengine.config import DictAction  # noqa: E402
from mmengine.logging import MMLogger  # noqa: E402
from mmengine.optim import build_optim_wrapper  # noqa: E402
from mmengine.registry import init_default_scope  # noqa: E402

import mmrskd  # noqa: E402,F401
from mmrskd.apis import cli  # noqa: E402
from mmrskd.models.distillers.base_distiller import build_student  # noqa: E402,E501
from mmrskd.models.distillers.teacher import count_classes  # noqa: E402
from mmrskd.utils.model_config import config_model  # noqa: E402
from mmrskd.models.distillers.teacher_cache import (  # noqa: E402
    VERSION as CACHE_VERSION, open_arrays, write_manifest)
from mmrskd.testing import cls_batch, det_batch  # noqa: E402
from tools.analysis.bench_runs import numerics  # noqa: E402

STEPS = ('student', 'teacher', 'distill')


def build_steps(config: str, batch_size: int, size: int, cfg_options=None,
                student_only: bool = False, cache_dir: Optional[str] = None
                ) -> Dict[str, Callable[[], None]]:
    """The three timed callables of one distiller config, on one batch
    (only the student's, built without any teacher, if ``student_only``);
    with ``cache_dir`` also ``teacher_bf16`` (the teacher's forward under
    bf16 autocast) and ``cached`` (the train step of the same distiller
    reading the teacher's logits from a teacher-output cache)."""
    cfg = cli.load_config(config, cfg_options)
    if not cli.is_distiller(cfg.model):
        raise ValueError(f'{config}: model.type is {cfg.model.type}, not a '
                         'distiller; give distillation configs.')
    init_default_scope(cfg.default_scope)
    MMLogger.get_instance('mmrskd_benchmark', log_level='ERROR')
    models = cli.models_registry(cfg)
    if student_only:
        distiller = None
        student = build_student(cfg.model.student,
                                cfg.get('data_preprocessor'), models)
    else:
        model_cfg = config_model(cfg)
        model_cfg.teacher_ckpt = None
        model_cfg.allow_random_teacher = True
        distiller = models.build(model_cfg).train()
        student = distiller.student
    student.train()
    make = det_batch if cli.is_detection(cfg) else cls_batch
    data = make(batch_size, size, count_classes(student) or 2)
    s_optim = build_optim_wrapper(student, cfg.optim_wrapper)
    steps = {'student': lambda: student.train_step(data, s_optim)}
    if distiller is None:
        return steps

    d_optim = build_optim_wrapper(distiller, cfg.optim_wrapper)
    prep = distiller.data_preprocessor(data, True)
    # the samples too: a two-stage detector's RPN reads the image metas
    t_inputs = (prep.get('teacher_inputs', prep['inputs']),
                prep['data_samples'])
    steps['teacher'] = lambda: distiller.teacher(
        lambda m, x, s: m(x, s, mode='tensor'), *t_inputs)
    steps['distill'] = lambda: distiller.train_step(data, d_optim)
    if cache_dir is not None:
        steps.update(cached_steps(cfg, distiller, data, cache_dir, t_inputs))
    return steps


def cached_steps(cfg, distiller, data, cache_dir: str,
                 t_inputs) -> Dict[str, Callable[[], None]]:
    """``teacher_bf16`` and ``cached`` steps for :func:`build_steps`. The
    cache holds random logits of the batch's shape: reading them costs the
    same as reading real ones."""
    n = len(data['data_samples'])
    classes = count_classes(distiller.student)
    manifest = dict(version=CACHE_VERSION, epochs=1, num_samples=n,
                    num_classes=classes, dtype='fp16', seed=0,
                    replay_key='benchmark', hashes={})
    path = osp.join(cache_dir, osp.splitext(osp.basename(cfg.filename))[0])
    os.makedirs(path, exist_ok=True)
    logits, done = open_arrays(path, manifest, 'w+')
    logits[:] = torch.randn(logits.shape).numpy()
    done[:] = True
    logits.flush()
    done.flush()
    write_manifest(path, manifest)
    for i, sample in enumerate(data['data_samples']):
        sample.set_metainfo(dict(sample_idx=i, replay_epoch=0, replay_seed=0,
                                 replay_key='benchmark'))
    model_cfg = config_model(cfg)
    model_cfg.teacher_ckpt = None
    model_cfg.teacher_cache = dict(path=path)
    cached = cli.models_registry(cfg).build(model_cfg).train()
    c_optim = build_optim_wrapper(cached, cfg.optim_wrapper)

    def teacher_bf16():
        distiller.teacher.precision = 'bf16'
        try:
            distiller.teacher(lambda m, x, s: m(x, s, mode='tensor'),
                              *t_inputs)
        finally:
            distiller.teacher.precision = 'fp32'

    return {'teacher_bf16': teacher_bf16,
            'cached': lambda: cached.train_step(data, c_optim)}


def time_steps(steps: Dict, iters: int, warmup: int) -> Dict:
    """Median wall time (s) of each step, measured in rotation so that any
    drift of the machine hits all of them alike."""
    for _ in range(warmup):
        for fn in steps.values():
            fn()
    times: Dict = {k: [] for k in steps}
    for _ in range(iters):
        for name, fn in steps.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in times.items()}


def _peak_rss_child(config, batch_size, size, cfg_options, step, threads,
                    queue):
    torch.set_num_threads(threads)
    fn = build_steps(config, batch_size, size, cfg_options,
                     student_only=step == 'student')[step]
    for _ in range(3):
        fn()
    queue.put(_vm_hwm_mb())


def _vm_hwm_mb() -> float:
    """This process's peak resident set (VmHWM). Not ``ru_maxrss``: Linux
    carries that over ``execve`` from the forking parent, so a spawned
    child would report at least the parent's peak."""
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith('VmHWM:'):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def peak_rss_mb(config, batch_size, size, cfg_options, step,
                threads) -> float:
    """Peak RSS (MiB) of a fresh process that builds the student alone
    (``step='student'``) or the whole distiller (``'distill'``) and runs
    three such train steps (imports and model building included)."""
    ctx = mp.get_context('spawn')
    queue = ctx.Queue()
    proc = ctx.Process(target=_peak_rss_child, args=(
        config, batch_size, size, cfg_options, step, threads, queue))
    proc.start()
    value = queue.get()
    proc.join()
    return value


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Distillation step vs student step + teacher forward.')
    parser.add_argument('configs', nargs='+', help='distiller configs')
    parser.add_argument('--batch-size', type=int, default=32)
    parser.add_argument('--size', type=int, default=64,
                        help='square input size in pixels (default 64)')
    parser.add_argument('--iters', type=int, default=10,
                        help='timed steps of each kind (median reported)')
    parser.add_argument('--warmup', type=int, default=2)
    parser.add_argument('--threads', type=int, default=torch.get_num_threads())
    parser.add_argument('--baseline', help='config that "vs" compares with '
                        '(default: the first one)')
    parser.add_argument('--memory', action='store_true',
                        help='also measure peak RSS of student-only and '
                        'distillation runs, each in a fresh process')
    parser.add_argument('--teacher-cache', action='store_true',
                        help='also time the bf16 teacher forward and the '
                        'distillation step reading a teacher-output cache')
    parser.add_argument('--out', help='write the results as JSON here')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override settings in every config')
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    baseline = args.baseline or args.configs[0]
    if baseline not in args.configs:
        args.configs.append(baseline)
    torch.set_num_threads(args.threads)
    steps = {}
    tmp = tempfile.TemporaryDirectory(prefix='mmrskd_bench_')
    cache_dir = tmp.name if args.teacher_cache else None
    for config in args.configs:
        torch.manual_seed(0)
        for kind, fn in build_steps(config, args.batch_size, args.size,
                                    args.cfg_options,
                                    cache_dir=cache_dir).items():
            steps[(config, kind)] = fn
    # every step of every config in one rotation: the "vs" column compares
    # runs measured side by side, not minutes apart
    times = time_steps(steps, args.iters, args.warmup)
    tmp.cleanup()
    rows = []
    for config in args.configs:
        row = dict(config=config,
                   **{f'{k}_s': times[(config, k)] for k in STEPS})
        row['limit_s'] = row['student_s'] + row['teacher_s']
        row['ratio'] = row['distill_s'] / row['limit_s']
        if args.teacher_cache:
            for k in ('cached', 'teacher_bf16'):
                row[f'{k}_s'] = times[(config, k)]
            row['cached_ratio'] = row['cached_s'] / row['student_s']
            row['bf16_speedup'] = row['teacher_s'] / row['teacher_bf16_s']
        if args.memory:
            for step in ('student', 'distill'):
                row[f'{step}_peak_rss_mb'] = peak_rss_mb(
                    config, args.batch_size, args.size, args.cfg_options,
                    step, args.threads)
        rows.append(row)
    base = next(r for r in rows if r['config'] == baseline)
    for row in rows:
        row['vs_baseline'] = row['distill_s'] / base['distill_s'] - 1
    result = dict(
        baseline=baseline, batch_size=args.batch_size, size=args.size,
        iters=args.iters, warmup=args.warmup, threads=args.threads,
        machine=dict(numerics(), python=platform.python_version()),
        rows=rows)
    print_table(result)
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(result, f, indent=2)
    return result


def print_table(result: dict) -> None:
    base = osp.basename(result['baseline'])
    print(f'batch {result["batch_size"]} x {result["size"]} px, '
          f'{result["threads"]} thread(s), median of {result["iters"]}; '
          'times in ms')
    head = (f'{"config":40s} {"student":>8s} {"teacher":>8s} {"limit":>8s} '
            f'{"distill":>8s} {"ratio":>6s} {"vs " + base[:18]:>22s}')
    mem = 'student_peak_rss_mb' in result['rows'][0]
    if mem:
        head += f' {"RSS MiB s/d":>14s}'
    print(head)
    for r in result['rows']:
        line = (f'{osp.basename(r["config"])[:40]:40s} '
                f'{r["student_s"] * 1e3:8.1f} {r["teacher_s"] * 1e3:8.1f} '
                f'{r["limit_s"] * 1e3:8.1f} {r["distill_s"] * 1e3:8.1f} '
                f'{r["ratio"]:6.3f} {r["vs_baseline"] * 100:+21.1f}%')
        if mem:
            line += (f' {r["student_peak_rss_mb"]:6.0f}/'
                     f'{r["distill_peak_rss_mb"]:<7.0f}')
        print(line)
    if 'cached_ratio' not in result['rows'][0]:
        return
    print(f'{"config":40s} {"cached":>8s} {"cached/student":>15s} '
          f'{"teacher bf16":>13s} {"bf16 speed-up":>14s}')
    for r in result['rows']:
        print(f'{osp.basename(r["config"])[:40]:40s} '
              f'{r["cached_s"] * 1e3:8.1f} {r["cached_ratio"]:15.3f} '
              f'{r["teacher_bf16_s"] * 1e3:13.1f} {r["bf16_speedup"]:14.2f}')
    worst = max(r['cached_ratio'] for r in result['rows'])
    print(f'cached/student ratio: {worst:.3f}')


if __name__ == '__main__':
    main()
