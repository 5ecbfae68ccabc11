"""Let ``torch.load(weights_only=True)`` read mmengine's own checkpoints.

torch >= 2.6 loads with ``weights_only=True`` by default. mmengine 0.10.7
resumes with a plain ``torch.load``, and its checkpoints carry the message
hub's ``HistoryBuffer`` objects and numpy arrays/scalars, so ``--resume``
fails with "Unsupported global". Instead of turning the safe loader off, this
allow-lists exactly the classes that mmengine's checkpoints hold; everything
else keeps being refused.

One global needs care: ``HistoryBuffer.__getstate__`` pickles its
class-level statistics methods (``min``, ``max``, ...) as
``getattr(HistoryBuffer, 'min')``, and allowing ``builtins.getattr`` would let
a crafted checkpoint reach any attribute of any allowed object (e.g.
``ndarray.tofile``). Those methods are registered on the class at import, so
pickling them is redundant: the patched ``__getstate__`` leaves them out of
checkpoints written with mmrskd imported. Checkpoints written by plain
mmengine (an mmpretrain or mmdet run without mmrskd) still carry them; for
those, ``builtins.getattr`` is served by :func:`history_buffer_method`, which
returns these four methods and refuses everything else.
"""
import pickle
from typing import List

import numpy as np
import torch


def mmengine_checkpoint_globals() -> List[object]:
    """The classes and functions found in mmengine runner checkpoints."""
    from mmengine.logging.history_buffer import HistoryBuffer
    try:
        from numpy._core.multiarray import _reconstruct, scalar
    except ImportError:  # numpy < 2
        from numpy.core.multiarray import _reconstruct, scalar
    dtype_classes = [type(np.dtype(t)) for t in (
        np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8,
        np.uint16, np.uint32, np.uint64, np.float16, np.float32, np.float64)]
    return [HistoryBuffer, _reconstruct, scalar, np.ndarray, np.dtype,
            *dtype_classes]


def _history_buffer_getstate(self) -> dict:
    """``HistoryBuffer`` state without the class-level statistics methods."""
    state = dict(self.__dict__)
    state.pop('statistics_methods', None)
    return state


def allow_mmengine_checkpoints() -> None:
    """Register :func:`mmengine_checkpoint_globals` as torch safe globals and
    stop ``HistoryBuffer`` from pickling bound methods."""
    from mmengine.logging.history_buffer import HistoryBuffer
    HistoryBuffer.__getstate__ = _history_buffer_getstate
    add = getattr(torch.serialization, 'add_safe_globals', None)
    if add is not None:  # torch < 2.4 loads everything anyway
        add(mmengine_checkpoint_globals())
        add([(history_buffer_method, 'builtins.getattr')])


#: Statistics methods that mmengine's ``HistoryBuffer`` registers itself;
#: plain mmengine pickles them as ``getattr(HistoryBuffer, name)``.
HISTORY_BUFFER_METHODS = ('min', 'max', 'current', 'mean')


def history_buffer_method(owner: object, name: str) -> object:
    """The only ``getattr`` that weights-only loading may run.

    Checkpoints written by mmengine without mmrskd (plain mmpretrain or
    mmdet runs) pickle ``HistoryBuffer``'s statistics methods through
    ``builtins.getattr`` (pickle protocol 2 cannot name a method directly).
    This stands in for ``getattr`` while unpickling and returns exactly those
    four methods; any other object or attribute is refused, so a crafted
    checkpoint still cannot reach arbitrary attributes.
    """
    from mmengine.logging.history_buffer import HistoryBuffer
    if owner is HistoryBuffer and name in HISTORY_BUFFER_METHODS:
        return getattr(HistoryBuffer, name)
    raise pickle.UnpicklingError(
        f'weights-only loading: getattr({getattr(owner, "__name__", owner)!r}'
        f', {name!r}) is not allowed (only the statistics methods of '
        "mmengine's HistoryBuffer are).")
