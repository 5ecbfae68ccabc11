"""The ONNX graph of a student, shared by the classification and detection
exports (``tools/deploy/export_onnx.py``; :mod:`.export_onnx`,
:mod:`.export_onnx_det`).

Both graphs take raw images as float32 ``(N, 3, H, W)`` (pixel values
0..255, in the channel order the caller names) and hold the data
preprocessor's channel swap and mean/std normalisation in front of the
network (:class:`RawImageInput`). This module writes the graph, checks it
in onnxruntime against torch and writes the JSON sidecar that describes
the graph's input (:func:`write_export`).

Exporter: torch's TorchScript-based exporter (``dynamo=False``). In torch
2.14 the default ``dynamo=True`` path needs the ``onnxscript`` package; the
TorchScript path needs nothing beyond torch and gives plain opset-17 graphs
for these CNNs (torch warns that it is deprecated; only torch.onnx's
deprecation warnings are silenced).
"""
import json
import os
import os.path as osp
import warnings
from typing import List, Optional, Tuple

import numpy as np
import torch
import torch.nn as nn

#: opset of the exported graphs (onnxruntime >= 1.12 runs it).
DEFAULT_OPSET = 17
INPUT_ORDERS = ('bgr', 'rgb')


class RawImageInput(nn.Module):
    """Base of the exported modules: raw images in, the data
    preprocessor's test-time work (channel swap, mean/std) in
    :meth:`preprocess`. Subclasses run the network in ``forward`` and name
    its outputs in :attr:`output_names`.

    Args:
        data_preprocessor: the model's (mmpretrain's
            ``ClsDataPreprocessor``, mmdet's ``DetDataPreprocessor``).
        input_order: channel order of the images the caller feeds:
            ``'bgr'`` (what ``LoadImageFromFile``/OpenCV read, the order the
            config's ``to_rgb``/``bgr_to_rgb`` refers to) or ``'rgb'`` (PIL
            and most image libraries). The swap is added only when the two
            differ.
    """

    #: names of the graph's outputs, in the order ``forward`` returns them
    output_names: List[str] = []

    def __init__(self, data_preprocessor: nn.Module,
                 input_order: str = 'bgr'):
        super().__init__()
        if input_order not in INPUT_ORDERS:
            raise ValueError(f'input_order must be one of {INPUT_ORDERS}, '
                             f'got {input_order!r}.')
        pre = data_preprocessor
        to_rgb = bool(getattr(pre, 'to_rgb',
                              getattr(pre, '_channel_conversion', False)))
        self.input_order = input_order
        #: the order the network itself was trained on
        self.network_order = 'rgb' if to_rgb else 'bgr'
        self.swap = self.network_order != input_order
        self.normalize = bool(getattr(pre, '_enable_normalize', False))
        if self.normalize:
            self.register_buffer('mean', pre.mean.detach().float().reshape(
                1, -1, 1, 1).clone())
            self.register_buffer('std', pre.std.detach().float().reshape(
                1, -1, 1, 1).clone())
        self.pad_size_divisor = int(getattr(pre, 'pad_size_divisor', 1))

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        """Raw images -> the network's input (float, swapped, normalised)."""
        x = images.float()
        if self.swap:
            x = x.flip(1)
        if self.normalize:
            x = (x - self.mean) / self.std
        return x


def random_images(batch: int, shape: Tuple[int, int],
                  seed: int = 0) -> torch.Tensor:
    """``(batch, 3, H, W)`` uint8-valued float images, reproducible."""
    return torch.randint(0, 256, (batch, 3, *shape),
                         generator=torch.Generator().manual_seed(seed)
                         ).float()


def export_graph(module: RawImageInput, shape: Tuple[int, int], out: str,
                 dynamic_batch: bool = False, opset: int = DEFAULT_OPSET
                 ) -> None:
    """Trace ``module`` on a ``(B, 3, H, W)`` input and write ``out`` with
    torch's TorchScript exporter (``dynamo=False``); input ``input``,
    outputs ``module.output_names``, their batch axis dynamic on request
    (else the graph takes one image)."""
    div = module.pad_size_divisor
    if div > 1 and (shape[0] % div or shape[1] % div):
        raise ValueError(
            f'The data preprocessor pads to multiples of {div}; export at a '
            f'multiple of it (got {shape[0]} x {shape[1]}).')
    names = list(module.output_names)
    x = random_images(2 if dynamic_batch else 1, shape)
    axes = {name: {0: 'batch'} for name in ['input', *names]} \
        if dynamic_batch else None
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.filterwarnings(
            'ignore', message='.*legacy TorchScript-based ONNX export',
            category=DeprecationWarning)
        warnings.filterwarnings('ignore', category=DeprecationWarning,
                                module=r'torch\.onnx')
        torch.onnx.export(module.eval(), (x, ), out, dynamo=False,
                          opset_version=opset, input_names=['input'],
                          output_names=names, dynamic_axes=axes,
                          do_constant_folding=True)


def ort_session(path: str, threads: Optional[int] = None):
    """An onnxruntime CPU session for ``path`` with ``threads`` intra-op
    threads (default: torch's thread count, for like-for-like timings)."""
    import onnxruntime as ort
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads or torch.get_num_threads()
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(path, opts,
                                providers=['CPUExecutionProvider'])


def torch_outputs(module: nn.Module, images: torch.Tensor
                  ) -> List[np.ndarray]:
    """``module(images)`` without gradients as a list of arrays (one per
    graph output)."""
    with torch.no_grad():
        out = module.eval()(images)
    return [t.numpy() for t in ([out] if torch.is_tensor(out) else out)]


def onnxruntime_max_diff(module: RawImageInput, path: str,
                         shape: Tuple[int, int], batch: int = 1
                         ) -> Optional[float]:
    """Max |onnxruntime - torch| over all outputs on a batch of random
    uint8-valued images; None when onnxruntime is not installed."""
    try:
        sess = ort_session(path)
    except ImportError:
        return None
    x = random_images(batch, shape, seed=1)
    got = sess.run(None, {'input': x.numpy()})
    ref = torch_outputs(module, x)
    return max(float(np.abs(g - r).max()) for g, r in zip(got, ref))


def rounded(values: torch.Tensor) -> List[float]:
    """A tensor's values as a flat list, to 4 decimals."""
    return [round(v, 4) for v in values.flatten().tolist()]


def describe_input(module: RawImageInput, shape: Tuple[int, int],
                   dynamic_batch: bool, note: str) -> dict:
    """The sidecar's ``input`` and ``preprocessing_in_graph`` entries."""
    pre = {'channel_swap': module.swap,
           'network_channel_order': module.network_order.upper()}
    if module.normalize:
        pre.update(mean=rounded(module.mean), std=rounded(module.std),
                   formula='(x - mean) / std, per channel in the network '
                   'order, after the swap')
    return {
        'input': {
            'name': 'input',
            'shape': ['batch' if dynamic_batch else 1, 3, *shape],
            'dtype': 'float32', 'layout': 'NCHW',
            'channel_order': module.input_order.upper(),
            'value_range': [0, 255], 'note': note},
        'preprocessing_in_graph': pre,
    }


def exporter_info(opset: int) -> dict:
    """The sidecar's ``opset`` and ``exporter`` entries."""
    return {'opset': opset,
            'exporter': f'torch {torch.__version__} torch.onnx.export '
                        '(TorchScript, dynamo=False)'}


def write_export(module: RawImageInput, shape: Tuple[int, int], out: str,
                 info: dict, dynamic_batch: bool = False,
                 opset: int = DEFAULT_OPSET, check: bool = True) -> dict:
    """Write the graph of ``module`` to ``out`` and ``info`` to its
    sidecar (:func:`sidecar_path`).

    With ``check`` (and onnxruntime installed) the graph is run on random
    images and the largest difference to torch is recorded in ``info``
    under ``check``. Returns ``info``.
    """
    export_graph(module, shape, out, dynamic_batch, opset)
    if check:
        batch = 2 if dynamic_batch else 1
        diff = onnxruntime_max_diff(module, out, shape, batch)
        info['check'] = {'onnxruntime_max_abs_diff': diff, 'batch': batch}
    with open(sidecar_path(out), 'w') as f:
        json.dump(info, f, indent=2)
    return info


def sidecar_path(out: str) -> str:
    """``model.onnx`` -> ``model.json``."""
    root, ext = osp.splitext(out)
    return (root if ext.lower() == '.onnx' else out) + '.json'
