# Copyright (c) mmrskd authors.
"""Run a distiller config's teacher once over its training set, under the
replayed augmentation of every epoch, and store its logits.

    python tools/cache_teacher.py \\
        configs/rsscn7_cpu/kd_r34_r18w8_rsscn7_cpu.py \\
        --out work_dirs/cache/rsscn7_r34_s0
    python tools/train.py configs/rsscn7_cpu/kd_r34_r18w8_rsscn7_cpu.py \\
        --cfg-options model.teacher_cache.path=work_dirs/cache/rsscn7_r34_s0
    # N processes (each takes every N-th sample):
    python -m torch.distributed.run --nproc_per_node=N tools/cache_teacher.py \
        CONFIG --launcher pytorch

The training run then reads the teacher's logits of each (epoch, sample)
instead of running the teacher; they are exactly what the online teacher
would compute (the augmentation of a sample is a pure function of seed,
epoch and index). A killed build resumes where it stopped when run again
with the same arguments.

When the training pipeline's only randomness is a flip on a fixed resize (a
finite group of variants), each variant of each sample is stored once
instead of every epoch: the cache then serves any number of epochs and any
seed (``--variants off`` stores epochs anyway).

Feature losses (FitNet, AT, RKD, CRD, ReviewKD, SDD) read teacher module
outputs: the cache also stores those the config's losses read (and the
teacher's classifier for SDD), so those runs skip the teacher too.
``--sources`` adds more teacher modules, to share one cache between
several configs:

    python tools/cache_teacher.py \
        configs/rsscn7_cpu/at_r34_r18w8_rsscn7_cpu.py --sources \
        backbone.layer1 backbone.layer2 backbone.layer3 backbone.layer4 \
        neck classifier
"""
import argparse
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from mmengine.config import DictAction  # noqa: E402

import mmrskd  # noqa: E402,F401
from mmrskd.apis import cli  # noqa: E402
from mmrskd.apis.cache_teacher import build_teacher_cache  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Cache the teacher outputs of a distiller config')
    parser.add_argument('config', help='distiller config file')
    parser.add_argument('--epochs', type=int,
                        help="epochs to cache (default: the config's "
                        'max_epochs)')
    parser.add_argument('--out', help='cache folder (default: '
                        'work_dirs/<config>/teacher_cache)')
    parser.add_argument('--dtype', choices=['fp16', 'fp32'], default='fp16',
                        help='storage dtype of the logits (default fp16, '
                        'see docs/benchmarks.md for what it changes)')
    parser.add_argument('--batch-size', type=int,
                        help="teacher batch size (default: the config's)")
    parser.add_argument('--num-workers', type=int,
                        help="dataloader workers (default: the config's)")
    parser.add_argument('--teacher-precision', default='fp32',
                        choices=['fp32', 'bf16', 'fp16'],
                        help='autocast dtype of the teacher forward')
    parser.add_argument('--variants', choices=['auto', 'off'],
                        default='auto',
                        help='auto (default): store each variant of a '
                        'finite augmentation group (flips on a fixed resize) '
                        'once; off: store every epoch')
    parser.add_argument('--sources', nargs='+', default=[],
                        metavar='MODULE',
                        help='teacher modules to store besides those the '
                        "config's losses read (e.g. backbone.layer3 neck; "
                        "'classifier' for the head's fc)")
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override settings in the config')
    parser.add_argument('--launcher', default='none',
                        choices=['none', 'pytorch', 'slurm', 'mpi'])
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def main(argv=None):
    args = parse_args(argv)
    cfg = cli.load_config(args.config, args.cfg_options)
    cfg.launcher = args.launcher
    if args.launcher != 'none':
        cli.use_gloo_without_gpu(cfg)  # gloo without a GPU
        from mmengine.dist import init_dist, is_distributed
        if not is_distributed():
            init_dist(args.launcher)
    out = args.out or osp.join(
        'work_dirs', osp.splitext(osp.basename(args.config))[0],
        'teacher_cache')
    from mmengine.dist import get_dist_info
    rank = get_dist_info()[0]
    with cli.distributed_run():
        manifest = build_teacher_cache(
            cfg, out, args.epochs, args.dtype, args.batch_size,
            args.num_workers, args.teacher_precision, args.variants,
            sources=args.sources)
    if rank != 0:
        return manifest
    rows = (f'{len(manifest["variants"])} variants (any number of epochs)'
            if manifest.get('variants') else f'{manifest["epochs"]} epochs')
    held = sorted(manifest['sources']) + \
        (['classifier'] if manifest['classifier'] else [])
    print(f'\nteacher cache: {out} ({rows} x {manifest["num_samples"]} '
          f'samples x {manifest["num_classes"]} classes, '
          f'{manifest["dtype"]}; features: {held or "none"}). Train with '
          '--cfg-options '
          f'model.teacher_cache.path={out}')
    return manifest


if __name__ == '__main__':
    main()
