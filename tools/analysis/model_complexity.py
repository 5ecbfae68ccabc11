# Copyright (c) mmrskd authors.
"""Parameters and FLOPs of a config's model (mmengine's analysis).

    python tools/analysis/model_complexity.py configs/dkd_vgg16_gghost_aid.py

For a distiller config, the student and the teacher are measured (the
teacher from its own config, without loading weights) and their ratio is
printed; the distiller's own parts (connectors, scalers) are reported too.
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

import torch  # noqa: E402
from mmengine.config import DictAction  # noqa: E402
from mmengine.analysis import get_model_complexity_info  # noqa: E402
from mmengine.registry import init_default_scope  # noqa: E402

import mmrskd  # noqa: E402,F401
from mmrskd.apis import cli  # noqa: E402
from mmrskd.models.distillers.teacher import teacher_model_cfg  # noqa: E402


def count(model):
    return sum(p.numel() for p in model.parameters())


def measure(model, shape):
    model.eval()
    inputs = torch.zeros(1, 3, *shape)
    info = get_model_complexity_info(
        model, inputs=(inputs, ), show_table=False, show_arch=False)
    return count(model), info['flops']


class _TensorMode(torch.nn.Module):
    """Run a classifier/detector in ``tensor`` mode for the FLOP counter."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model(x, mode='tensor')


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument('config')
    parser.add_argument('--shape', type=int, nargs=2, default=[224, 224],
                        help='input H W (default 224 224)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override settings in the config')
    args = parser.parse_args(argv)
    cfg = cli.load_config(args.config, args.cfg_options)
    init_default_scope(cfg.default_scope)
    models = cli.models_registry(cfg)
    rows = []
    if cli.is_distiller(cfg.model):
        student = models.build(cfg.model.student)
        teacher = models.build(teacher_model_cfg(
            cfg.model.get('teacher'), cfg.model.get('teacher_cfg')))
        rows.append(('student', *measure(_TensorMode(student), args.shape)))
        rows.append(('teacher', *measure(_TensorMode(teacher), args.shape)))
    else:
        model = models.build(cfg.model)
        rows.append(('model', *measure(_TensorMode(model), args.shape)))
    print(f'input 1 x 3 x {args.shape[0]} x {args.shape[1]}')
    print(f'{"":8s} {"params (M)":>12s} {"FLOPs (G)":>12s}')
    for name, params, flops in rows:
        print(f'{name:8s} {params / 1e6:12.2f} {flops / 1e9:12.2f}')
    if len(rows) == 2:
        print(f'teacher / student: {rows[1][1] / rows[0][1]:.2f}x parameters,'
              f' {rows[1][2] / max(rows[0][2], 1):.2f}x FLOPs')
    return rows


if __name__ == '__main__':
    main()
