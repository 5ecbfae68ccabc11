"""Reading checkpoints safely and comparing state dicts: one home for what
the teacher loader, ``--resume``, ``tools/test.py`` and the student export
share."""
import os.path as osp
import pickle
from collections import OrderedDict
from typing import Dict, List, NamedTuple, Type

import torch

STUDENT_PREFIX = 'student.'
#: prefix that ``torch.save(ddp_model.state_dict())`` leaves on every key.
DDP_PREFIX = 'module.'


class CheckpointReadError(RuntimeError):
    """A checkpoint file cannot be read as a state dict."""


def read_checkpoint(path: str, what: str = 'Checkpoint') -> dict:
    """``torch.load(path, weights_only=True)`` with errors that name the file.

    Weights-only loading never runs code from the file; mmrskd allow-lists
    what mmengine's own checkpoints hold
    (:mod:`mmrskd.utils.checkpoint_compat`). A file holding other pickled
    objects (a whole ``nn.Module``, a custom class) is refused with a
    message that says how to save the weights instead.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'{what} "{path}" does not exist.')
    try:
        obj = torch.load(path, map_location='cpu', weights_only=True)
    except pickle.UnpicklingError as exc:
        first = str(exc).strip().splitlines()
        detail = next((ln for ln in first if 'GLOBAL' in ln or
                       'global' in ln), first[0] if first else '')
        raise CheckpointReadError(
            f'{what} "{path}" holds pickled Python objects that weights-only '
            f'loading refuses ({detail.strip()}). mmrskd never unpickles '
            'arbitrary code. Save the weights instead, e.g. '
            "torch.save({'state_dict': model.state_dict()}, PATH), or use the "
            "checkpoint mmengine's Runner wrote (work_dirs/<config>/"
            'epoch_N.pth).') from exc
    except Exception as exc:  # noqa: BLE001 (zip/EOF/format errors)
        raise CheckpointReadError(
            f'Cannot read {what.lower()} "{path}": {exc}. Is it a complete '
            'torch checkpoint (.pth)?') from exc
    if not isinstance(obj, dict):
        raise CheckpointReadError(
            f'{what} "{path}" holds a {type(obj).__name__}, not a state dict '
            "or a {'state_dict': ...} checkpoint.")
    return obj


def checkpoint_state(ckpt: dict) -> dict:
    """The state dict of an mmengine checkpoint, or ``ckpt`` itself when it
    is a bare state dict."""
    return ckpt['state_dict'] if isinstance(ckpt.get('state_dict'), dict) \
        else ckpt


def student_state_dict(state_dict: dict, source: str = '<state_dict>'
                       ) -> 'OrderedDict[str, torch.Tensor]':
    """Keep the ``student.*`` entries of a distiller's state, without the
    prefix.

    Everything else (the distillation losses' connectors and scalers, the
    data preprocessor) is dropped: the result loads into the student's own
    model class with its own config.
    """
    out = OrderedDict((k[len(STUDENT_PREFIX):], v)
                      for k, v in state_dict.items()
                      if k.startswith(STUDENT_PREFIX))
    if not out:
        raise KeyError(
            f'"{source}" has no "student.*" weights: it is not a checkpoint '
            f'of an mmrskd distiller (first keys: {list(state_dict)[:5]}).')
    return out


def is_distiller_state(state: dict) -> bool:
    """True for the state of an mmrskd distiller (``student.*`` keys)."""
    return any(k.startswith(STUDENT_PREFIX) for k in state)


def model_weights(state: dict, source: str) -> Dict[str, torch.Tensor]:
    """The weights of one model from any of the layouts a user may have:
    a plain mmpretrain/mmdet state, an mmrskd distiller's (its student), or
    one saved from a DDP-wrapped model (``module.`` prefix)."""
    if is_distiller_state(state):
        return student_state_dict(state, source)
    if state and all(k.startswith(DDP_PREFIX) for k in state):
        return OrderedDict((k[len(DDP_PREFIX):], v) for k, v in state.items())
    return state


class StateDifferences(NamedTuple):
    """Keys of one state dict against a model's own."""
    missing: List[str]
    unexpected: List[str]
    shapes: List[str]

    def __bool__(self) -> bool:
        return bool(self.missing or self.unexpected or self.shapes)

    def describe(self, n: int = 5) -> str:
        """The kinds of difference there are, each with its count and its
        first ``n`` keys, e.g. ``40 missing key(s) [...], 1 tensor(s) of
        other shapes ['head.fc.weight: checkpoint (7, 512) vs model (4,
        512)']``."""
        kinds = (('missing key(s)', self.missing),
                 ('unexpected key(s)', self.unexpected),
                 ('tensor(s) of other shapes', self.shapes))
        return ', '.join(f'{len(keys)} {kind} {keys[:n]}'
                         for kind, keys in kinds if keys)


def state_differences(own: dict, state: dict) -> StateDifferences:
    """Missing, unexpected and differently shaped keys of ``state`` against
    ``own`` (a model's ``state_dict()``)."""
    shapes = [f'{k}: checkpoint {tuple(state[k].shape)} vs model '
              f'{tuple(v.shape)}' for k, v in own.items()
              if k in state and hasattr(state[k], 'shape')
              and hasattr(v, 'shape') and state[k].shape != v.shape]
    return StateDifferences([k for k in own if k not in state],
                            [k for k in state if k not in own], shapes)


def check_state_fits(model: torch.nn.Module, state: dict, problem: str,
                     hint: str, error: Type[Exception] = ValueError,
                     n: int = 5) -> None:
    """Raise ``error`` unless ``state`` has exactly the keys of ``model``'s
    own state dict, with the same shapes.

    The message reads ``'<problem> (<model class>): <differences>.
    <hint>'``, the differences as :meth:`StateDifferences.describe` gives
    them (up to ``n`` keys of each kind); ``problem`` names the file, e.g.
    ``'Teacher checkpoint "x.pth" does not match the teacher model'``.
    """
    diff = state_differences(model.state_dict(), state)
    if diff:
        raise error(f'{problem} ({type(model).__name__}): '
                    f'{diff.describe(n)}. {hint}')
