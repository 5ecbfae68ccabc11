# Copyright (c) mmrskd authors.
"""Export a (distilled) student to ONNX: a classifier whole, a detector's
backbone, neck and dense head (raw outputs, no decoding or NMS).

    python tools/deploy/export_onnx.py configs/demo/kd_r34_r18_demo.py \\
        work_dirs/demo/kd/epoch_8.pth r18_kd.onnx --shape 64 64 \\
        --dynamic-batch
    python tools/deploy/export_onnx.py \\
        configs/dynkd_retinanet_r50_r18_dota.py \\
        work_dirs/dynkd_retinanet_r50_r18_dota/epoch_12.pth retina_r18.onnx

CONFIG is a distiller config (its student is exported) or a plain model
config; CHECKPOINT a distiller checkpoint (``student.*``, as tools/train.py
writes it) or a plain/exported student checkpoint. The graph takes raw
images (N, 3, H, W) as float32 in 0..255 (BGR by default, --input-order rgb
for RGB) and holds the data preprocessor's channel swap and mean/std, then
backbone, neck and head; it returns logits (N, C) (probabilities with
--softmax). OUT.json next to OUT.onnx describes input, output and classes.

For a detection config (default_scope mmdet) the graph returns the dense
head's raw per-level outputs (cls_score_p3..., bbox_pred_p3..., FCOS also
centerness_p3...; Faster R-CNN: the RPN's, rpn_cls_score_p2...); the default
size is the test pipeline's Resize scale. OUT.json adds what decoding and
NMS need (priors, box coder, test config) and the steps left
(mmrskd/apis/export_onnx_det.py).
"""
import argparse
import os.path as osp
import sys
from typing import Tuple

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(
    __file__)))))

from mmengine.config import DictAction  # noqa: E402

import mmrskd  # noqa: E402,F401
from mmrskd.apis.cli import load_config  # noqa: E402
from mmrskd.apis.export_onnx import (DEFAULT_OPSET, INPUT_ORDERS,  # noqa: E402
                                     export_onnx, sidecar_path)
from mmrskd.apis.export_onnx_det import export_detector_onnx  # noqa: E402
from mmrskd.utils.model_config import is_detection  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=' '.join(__doc__.splitlines()[:2]))
    parser.add_argument('config', help='distiller or plain model config')
    parser.add_argument('checkpoint', help='distiller or plain checkpoint')
    parser.add_argument('out', help='output .onnx file')
    parser.add_argument('--shape', type=int, nargs=2, metavar=('H', 'W'),
                        help="input size (default: the test pipeline's "
                        'resize/crop size; for detectors its Resize scale)')
    parser.add_argument('--dynamic-batch', action='store_true',
                        help='dynamic batch axis (default: batch 1)')
    parser.add_argument('--opset', type=int, default=DEFAULT_OPSET,
                        help=f'ONNX opset (default {DEFAULT_OPSET})')
    parser.add_argument('--softmax', action='store_true',
                        help='output class probabilities, not logits '
                        '(classifiers only)')
    parser.add_argument('--input-order', choices=INPUT_ORDERS,
                        default='bgr', help='channel order of the images '
                        'fed to the graph (default bgr, as OpenCV and the '
                        'training pipeline read them)')
    parser.add_argument('--no-check', action='store_true',
                        help='skip the onnxruntime-vs-torch check')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override settings in the config')
    return parser.parse_args(argv)


def export_detector(args) -> Tuple[dict, str]:
    """The detection path: the dense head's raw outputs. Returns the
    sidecar's content and what the summary line says of the outputs."""
    if args.softmax:
        raise SystemExit('--softmax applies to classifiers; a detector\'s '
                         'graph returns raw head outputs (the sidecar says '
                         'how to decode them).')
    info = export_detector_onnx(
        args.config, args.checkpoint, args.out, args.shape,
        args.dynamic_batch, args.opset, args.input_order, args.cfg_options,
        check=not args.no_check)
    names = [o['name'] for o in info['outputs']]
    return info, (f'{len(names)} raw head outputs {names[0]} ... '
                  f'{names[-1]}, decoding + NMS left to the caller')


def main(argv=None):
    args = parse_args(argv)
    if is_detection(load_config(args.config, args.cfg_options)):
        info, outputs = export_detector(args)
    else:
        info = export_onnx(args.config, args.checkpoint, args.out,
                           args.shape, args.dynamic_batch, args.opset,
                           args.softmax, args.input_order, args.cfg_options,
                           check=not args.no_check)
        outputs = (f'output {info["output"]["name"]} '
                   f'{info["num_classes"]} classes')
    shape = 'x'.join(str(s) for s in info['input']['shape'])
    print(f'wrote {args.out} (input {shape} {info["input"]["channel_order"]}'
          f' 0..255 float32, {outputs}, opset {info["opset"]}) and '
          f'{sidecar_path(args.out)}')
    diff = (info.get('check') or {}).get('onnxruntime_max_abs_diff')
    if diff is not None:
        print(f'onnxruntime vs torch: max |diff| = {diff:.2e}')
    return info


if __name__ == '__main__':
    main()
