# Copyright (c) mmrskd authors.
"""CPU latency (ms per image), parameters and FLOPs of configs' models.

    python tools/analysis/latency.py configs/demo/kd_r34_r18_demo.py \\
        configs/rsscn7_cpu/isdm_r34_r18w8_rsscn7_cpu.py \\
        --batch-sizes 1 32 --onnx \\
        --out work_dirs/latency.json

A distiller config gives its teacher and its student, a plain config its
model (random weights). Each is timed as deployed (raw images in, the data
preprocessor's normalisation in the model): torch fp32, torch under bf16
autocast and, with --onnx, the exported graph in onnxruntime (CPU execution
provider, as many threads as torch). The figure is the median of --runs
timed runs after --warmup untimed ones, divided by the batch size.
"""
import argparse
import json
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(
    __file__)))))

import torch  # noqa: E402
from mmengine.config import DictAction  # noqa: E402

import mmrskd  # noqa: E402,F401
from mmrskd.analysis.latency import (FLOPS_NOTE, markdown_table,  # noqa: E402
                                     measure_config)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument('configs', nargs='+', metavar='CONFIG')
    parser.add_argument('--batch-sizes', type=int, nargs='+', default=[1, 32])
    parser.add_argument('--size', type=int, nargs=2, metavar=('H', 'W'),
                        help="input size (default: the test pipeline's, "
                        'else 224 224)')
    parser.add_argument('--onnx', action='store_true',
                        help='also time the ONNX graph in onnxruntime')
    parser.add_argument('--warmup', type=int, default=5)
    parser.add_argument('--runs', type=int, default=20)
    parser.add_argument('--threads', type=int,
                        help='torch and onnxruntime threads (default: '
                        "torch's)")
    parser.add_argument('--out', help='also write the rows to this JSON')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override settings in every config')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = []
    for config in args.configs:
        rows += measure_config(config, args.batch_sizes, args.size,
                               args.onnx, args.warmup, args.runs,
                               args.cfg_options)
    meta = dict(torch=torch.__version__, threads=torch.get_num_threads(),
                warmup=args.warmup, runs=args.runs, flops=FLOPS_NOTE)
    if args.onnx:
        import onnxruntime
        meta['onnxruntime'] = onnxruntime.__version__
    print('\n' + markdown_table(rows))
    print(f'\ntorch {meta["torch"]}'
          + (f', onnxruntime {meta["onnxruntime"]}' if args.onnx else '')
          + f', {meta["threads"]} thread(s); ms per image = median of '
          f'{args.runs} runs after {args.warmup} warm-up runs / batch size. '
          f'{FLOPS_NOTE}.')
    if args.out:
        os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
        with open(args.out, 'w') as f:
            json.dump(dict(meta=meta, rows=rows), f, indent=2)
    return rows


if __name__ == '__main__':
    main()
