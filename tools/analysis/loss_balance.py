# Copyright (c) mmrskd authors.
"""Gradient share of each loss term of a (distilled) model on real batches.

    python tools/analysis/loss_balance.py CONFIG CHECKPOINT [--batches 10]
    # a variant without retraining, e.g. DKD with beta 2 instead of 8:
    python tools/analysis/loss_balance.py \\
        configs/rsscn7_cpu/dkd_r34_r18w8_rsscn7_cpu.py \\
        work_dirs/rs_benchmark/dkd_s0/epoch_30.pth \\
        --cfg-options model.distill_losses.loss_dkd.beta=2.0

For each loss term (every key with ``loss`` in its name, as mmengine sums
them) over ``--batches`` batches of the training loader (its augmentation
included, fixed seed), prints the mean loss, the mean L2 norm of its
gradient over the student's parameters, and the ratio of that norm to the
``--reference`` term's (default: the classifier's cross-entropy, ``loss_cls``
in a distiller, ``loss`` in a plain mmpretrain model; for mmdet e.g.
``loss_cls`` too). Nothing is updated. A distillation term whose
gradient is many times the task loss's means the student spends its capacity
on copying the teacher.
"""
import argparse
import itertools
import json
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from mmengine.config import DictAction  # noqa: E402
from mmengine.runner import Runner, set_random_seed  # noqa: E402

import mmrskd  # noqa: E402,F401
from mmrskd.analysis import load_model, loss_balance  # noqa: E402
from mmrskd.apis import cli  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('--teacher-ckpt',
                        help="override the distiller config's teacher_ckpt")
    parser.add_argument('--batches', type=int, default=10)
    parser.add_argument('--reference',
                        help='the term the others are compared with '
                        '(default: loss_cls, or loss if there is none)')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--json', help='also write the numbers here')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.batches < 1:
        raise SystemExit(f'--batches must be >= 1, got {args.batches}.')
    cfg = cli.load_config(args.config, args.cfg_options)
    if not osp.isfile(args.checkpoint):
        raise FileNotFoundError(
            f'Checkpoint "{args.checkpoint}" does not exist.')
    set_random_seed(args.seed)  # python, numpy (augmentation) and torch
    model = load_model(cfg, args.checkpoint, args.teacher_ckpt)
    loader = cfg.train_dataloader.copy()
    loader.update(num_workers=0, persistent_workers=False)
    dataloader = Runner.build_dataloader(loader, seed=args.seed)
    result = loss_balance(model, itertools.islice(dataloader, args.batches))
    args.reference = args.reference or (
        'loss_cls' if 'loss_cls' in result else 'loss')
    if args.reference not in result:
        raise SystemExit(f'--reference {args.reference!r} is not a loss term '
                         f'of this model: {sorted(result)}.')
    ref = result[args.reference]['grad_norm']
    print(f'{args.config} ({args.checkpoint}), {args.batches} training '
          'batches')
    print(f'| term | loss | grad norm | / {args.reference} |')
    print('|---|---|---|---|')
    for name, v in result.items():
        ratio = v['grad_norm'] / ref if ref > 0 else float('nan')
        v['ratio'] = ratio
        print(f"| {name} | {v['loss']:.4f} | {v['grad_norm']:.4f} | "
              f'{ratio:.2f} |')
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(dict(config=args.config, checkpoint=args.checkpoint,
                           batches=args.batches, options=args.cfg_options,
                           terms=result), f, indent=1)


if __name__ == '__main__':
    main()
