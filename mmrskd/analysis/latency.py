"""CPU latency, parameters and FLOPs of a config's models
(``tools/analysis/latency.py``).

Every model is timed as it would be deployed: raw images in, the data
preprocessor's normalisation and the network in one module
(:class:`mmrskd.apis.export_onnx.DeployClassifier`), in torch fp32, torch
under bf16 autocast, and, on request, as the exported ONNX graph in
onnxruntime's CPU execution provider. Weights are random: latency does not
depend on them.
"""
import statistics
import tempfile
import time
import os.path as osp
from typing import Callable, List, Optional, Sequence, Tuple

import torch
from mmengine.analysis import FlopAnalyzer
from mmengine.config import Config

from ..utils.model_config import load_config
from ..apis.export_onnx import (DeployClassifier, build_student, export_graph,
                                ort_session, pipeline_input_size,
                                student_model_cfg)
from ..models.distillers.teacher import teacher_model_cfg
from ..utils.model_config import is_distiller, models_registry

#: what the FLOP column counts.
FLOPS_NOTE = ('FLOPs: mmengine.analysis.FlopAnalyzer (the counter of '
              "mmengine's get_model_complexity_info and "
              'tools/analysis/model_complexity.py; fvcore-style: one '
              'multiply-add = one FLOP in convolutions and linear layers, '
              'plus batch norm and average pooling; element-wise ops, max '
              'pooling and the input normalisation are not counted), per '
              'image')
DEFAULT_SIZE = (224, 224)


def config_models(cfg: Config) -> List[Tuple[str, DeployClassifier]]:
    """``[('teacher', ...), ('student', ...)]`` for a distiller config (the
    teacher built from its config, with its own data preprocessor as the
    distiller gives it), ``[('model', ...)]`` for a plain one."""
    student = DeployClassifier(build_student(cfg)).eval()
    model = cfg.model
    if not is_distiller(model):
        return [('model', student)]
    t_cfg = teacher_model_cfg(model.get('teacher'), model.get('teacher_cfg'))
    if model.get('teacher_data_preprocessor') is not None:
        t_cfg.data_preprocessor = model.teacher_data_preprocessor
    elif t_cfg.get('data_preprocessor') is None:
        t_cfg.data_preprocessor = student_model_cfg(cfg).get(
            'data_preprocessor')
    teacher = models_registry(cfg).build(t_cfg).eval()
    return [('teacher', DeployClassifier(teacher).eval()),
            ('student', student)]


def median_ms(fn: Callable[[], object], warmup: int, runs: int) -> float:
    """Median wall time of ``fn()`` in ms over ``runs`` calls after
    ``warmup`` untimed ones."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(max(runs, 1)):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def torch_ms(module: torch.nn.Module, images: torch.Tensor, bf16: bool,
             warmup: int, runs: int) -> float:
    """ms per call of ``module(images)`` without gradients, in fp32 or
    under CPU bf16 autocast."""
    def run():
        with torch.no_grad(), torch.autocast('cpu', dtype=torch.bfloat16,
                                             enabled=bf16):
            module(images)
    return median_ms(run, warmup, runs)


def complexity(module: DeployClassifier,
               shape: Tuple[int, int]) -> Tuple[int, int]:
    """(parameters, FLOPs of one image) of the network (``FLOPS_NOTE``)."""
    flops = FlopAnalyzer(module, (torch.zeros(1, 3, *shape), ))
    flops.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    return sum(p.numel() for p in module.parameters()), int(flops.total())


def measure_model(role: str, module: DeployClassifier,
                  shape: Tuple[int, int], batch_sizes: Sequence[int],
                  onnx_dir: Optional[str], warmup: int, runs: int
                  ) -> List[dict]:
    """One row per batch size: params, FLOPs and ms per image of
    ``module`` in torch fp32, torch bf16 and (with ``onnx_dir``, where the
    graph is exported) onnxruntime."""
    params, flops = complexity(module, shape)
    session = None
    if onnx_dir is not None:
        path = osp.join(onnx_dir, f'{role}.onnx')
        export_graph(module, shape, path, dynamic_batch=True)
        session = ort_session(path)
    rows = []
    for batch in batch_sizes:
        x = torch.randint(0, 256, (batch, 3, *shape),
                          generator=torch.Generator().manual_seed(0)).float()
        row = dict(model=role, batch=batch, size=list(shape), params=params,
                   flops=flops,
                   torch_fp32=torch_ms(module, x, False, warmup, runs) / batch,
                   torch_bf16=torch_ms(module, x, True, warmup, runs) / batch)
        if session is not None:
            feed = {'input': x.numpy()}
            row['onnxruntime'] = median_ms(
                lambda: session.run(None, feed), warmup, runs) / batch
        rows.append(row)
    return rows


def measure_config(config: str, batch_sizes: Sequence[int] = (1, 32),
                   size: Optional[Sequence[int]] = None, onnx: bool = False,
                   warmup: int = 5, runs: int = 20,
                   cfg_options: Optional[dict] = None) -> List[dict]:
    """Rows of :func:`measure_model` for each model of ``config`` (teacher
    and student of a distiller), at ``size`` or the test pipeline's input
    size (224 x 224 when the pipeline keeps the file size)."""
    cfg = load_config(config, cfg_options)
    shape = tuple(size) if size else (pipeline_input_size(cfg) or
                                      DEFAULT_SIZE)
    rows = []
    with tempfile.TemporaryDirectory(prefix='mmrskd_latency_') as tmp:
        for role, module in config_models(cfg):
            for row in measure_model(role, module, shape, batch_sizes,
                                     tmp if onnx else None, warmup, runs):
                rows.append(dict(config=osp.basename(config), **row))
    return rows


COLUMNS = [('config', 'config'), ('model', 'model'), ('size', 'input'),
           ('batch', 'batch'), ('params', 'params (M)'),
           ('flops', 'MFLOPs/img'), ('torch_fp32', 'torch fp32 ms/img'),
           ('torch_bf16', 'torch bf16 ms/img'),
           ('onnxruntime', 'onnxruntime ms/img')]


def _cell(key: str, value) -> str:
    if value is None:
        return '-'
    if key == 'size':
        return f'{value[0]}x{value[1]}'
    if key == 'params':
        return f'{value / 1e6:.2f}'
    if key == 'flops':
        return f'{value / 1e6:.1f}'
    return f'{value:.3f}' if isinstance(value, float) else str(value)


def markdown_table(rows: List[dict]) -> str:
    """The rows as a markdown table (the onnxruntime column only when
    measured)."""
    cols = [(k, t) for k, t in COLUMNS
            if k != 'onnxruntime' or any(k in r for r in rows)]
    lines = ['| ' + ' | '.join(t for _, t in cols) + ' |',
             '|' + '|'.join('---' if k in ('config', 'model') else '---:'
                            for k, _ in cols) + '|']
    lines += ['| ' + ' | '.join(_cell(k, r.get(k)) for k, _ in cols) + ' |'
              for r in rows]
    return '\n'.join(lines)
