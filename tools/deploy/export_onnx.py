# Copyright (c) mmrskd authors.
"""Export a (distilled) classification student to ONNX.

    python tools/deploy/export_onnx.py configs/kd_r34_r18_demo.py \\
        work_dirs/demo/kd/epoch_8.pth r18_kd.onnx --shape 64 64 \\
        --dynamic-batch

CONFIG is a distiller config (its student is exported) or a plain model
config; CHECKPOINT a distiller checkpoint (``student.*``, as tools/train.py
writes it) or a plain/exported student checkpoint. The graph takes raw
images (N, 3, H, W) as float32 in 0..255 (BGR by default, --input-order rgb
for RGB) and holds the data preprocessor's channel swap and mean/std, then
backbone, neck and head; it returns logits (N, C) (probabilities with
--softmax). OUT.json next to OUT.onnx describes input, output and classes.
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(
    __file__)))))

from mmengine.config import DictAction  # noqa: E402

import mmrskd  # noqa: E402,F401
from mmrskd.apis.export_onnx import (DEFAULT_OPSET, INPUT_ORDERS,  # noqa: E402
                                     export_onnx, sidecar_path)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument('config', help='distiller or plain model config')
    parser.add_argument('checkpoint', help='distiller or plain checkpoint')
    parser.add_argument('out', help='output .onnx file')
    parser.add_argument('--shape', type=int, nargs=2, metavar=('H', 'W'),
                        help="input size (default: the test pipeline's "
                        'resize/crop size)')
    parser.add_argument('--dynamic-batch', action='store_true',
                        help='dynamic batch axis (default: batch 1)')
    parser.add_argument('--opset', type=int, default=DEFAULT_OPSET,
                        help=f'ONNX opset (default {DEFAULT_OPSET})')
    parser.add_argument('--softmax', action='store_true',
                        help='output class probabilities, not logits')
    parser.add_argument('--input-order', choices=INPUT_ORDERS,
                        default='bgr', help='channel order of the images '
                        'fed to the graph (default bgr, as OpenCV and the '
                        'training pipeline read them)')
    parser.add_argument('--no-check', action='store_true',
                        help='skip the onnxruntime-vs-torch check')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override settings in the config')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    info = export_onnx(args.config, args.checkpoint, args.out, args.shape,
                       args.dynamic_batch, args.opset, args.softmax,
                       args.input_order, args.cfg_options,
                       check=not args.no_check)
    shape = 'x'.join(str(s) for s in info['input']['shape'])
    print(f'wrote {args.out} (input {shape} {info["input"]["channel_order"]}'
          f' 0..255 float32, output {info["output"]["name"]} '
          f'{info["num_classes"]} classes, opset {info["opset"]}) and '
          f'{sidecar_path(args.out)}')
    diff = (info.get('check') or {}).get('onnxruntime_max_abs_diff')
    if diff is not None:
        print(f'onnxruntime vs torch: max |diff| = {diff:.2e}')
    return info


if __name__ == '__main__':
    main()
