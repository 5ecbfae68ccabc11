# Copyright (c) mmrskd authors.
"""`make demo`: train on the generated aerial-scene set and print a table.

Generates ``data/demo_scenes`` when absent, then trains every run of
``RUNS`` in order with ``tools/train.py`` (mmengine's progress log shows),
evaluates each final checkpoint with ``tools/test.py`` and prints one table
of top-1 and wall time, also written to ``<work-dir>/results.md`` and
``results.json``.
"""
import argparse
import json
import os
import os.path as osp
import subprocess
import sys
import time

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, ROOT)

#: (row name, config, name of the run whose checkpoint is the teacher),
#: in training order.
RUNS = [
    ('teacher ResNet34', 'configs/demo/resnet34_demo.py', None),
    ('student ResNet18 alone', 'configs/demo/resnet18_demo.py', None),
    ('ResNet18 + KD', 'configs/demo/kd_r34_r18_demo.py', 'teacher ResNet34'),
    ('ResNet18 + ISDM', 'configs/demo/isdm_r34_r18_demo.py',
     'teacher ResNet34'),
]


def run(cmd):
    print('+', ' '.join(cmd), flush=True)
    subprocess.run(cmd, check=True, cwd=ROOT)


def last_checkpoint(work_dir):
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        return f.read().strip()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--data-root', default='data/demo_scenes')
    parser.add_argument('--work-dir', default='work_dirs/demo')
    parser.add_argument('--epochs', type=int, default=None,
                        help='override the demo schedule length')
    args = parser.parse_args(argv)

    py = sys.executable
    if not osp.isdir(osp.join(ROOT, args.data_root)):
        run([py, 'tools/misc/make_demo_dataset.py', args.data_root])

    rows, ckpts = [], {}
    for name, config, teacher in RUNS:
        work_dir = osp.join(args.work_dir,
                            osp.splitext(osp.basename(config))[0])
        opts = [f'train_dataloader.dataset.data_root={args.data_root}',
                f'val_dataloader.dataset.data_root={args.data_root}',
                f'test_dataloader.dataset.data_root={args.data_root}']
        if args.epochs:
            opts += [f'train_cfg.max_epochs={args.epochs}',
                     f'train_cfg.val_interval={args.epochs}',
                     f'param_scheduler.T_max={args.epochs}']
        train_opts = [f'model.teacher_ckpt={ckpts[teacher]}'] if teacher else []
        start = time.time()
        run([py, 'tools/train.py', config, '--work-dir', work_dir,
             '--cfg-options', *opts, *train_opts])
        train_time = time.time() - start
        ckpts[name] = last_checkpoint(work_dir)
        metrics_file = osp.join(work_dir, 'test_metrics.json')
        run([py, 'tools/test.py', config, ckpts[name],
             '--work-dir', work_dir, '--out', metrics_file,
             '--out-item', 'metrics', '--cfg-options', *opts])
        with open(metrics_file) as f:
            metrics = json.load(f)
        rows.append(dict(run=name, config=config,
                         top1=metrics['accuracy/top1'],
                         train_seconds=round(train_time, 1)))

    lines = ['| run | config | top-1 (%) | train wall time (s) |',
             '|---|---|---|---|']
    lines += [f"| {r['run']} | {r['config']} | {r['top1']:.2f} | "
              f"{r['train_seconds']:.0f} |" for r in rows]
    table = '\n'.join(lines)
    os.makedirs(osp.join(ROOT, args.work_dir), exist_ok=True)
    with open(osp.join(ROOT, args.work_dir, 'results.md'), 'w') as f:
        f.write(table + '\n')
    with open(osp.join(ROOT, args.work_dir, 'results.json'), 'w') as f:
        json.dump(rows, f, indent=2)
    print('\nmmrskd demo results (generated aerial scenes, test split)\n')
    print(table)
    print(f'\nwritten to {osp.join(args.work_dir, "results.md")}')


if __name__ == '__main__':
    main()
