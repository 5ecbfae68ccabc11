"""The private mmpretrain and mmdet methods mmrskd calls, in one place.

Written for mmpretrain 1.2 and mmdet 3.3 (the ranges of
:data:`mmrskd.version.SUPPORTED`, pinned in requirements/runtime.txt):

- ``ClsHead._get_loss(cls_score, data_samples)`` (mmpretrain): the head's
  losses from logits the distiller has already computed (its public
  ``loss`` would run the head again);
- ``StandardRoIHead._bbox_forward(x, rois)`` (mmdet): the RoI head's
  class scores and box deltas on given RoIs (the distiller scores the
  student's sampled RoIs with both RoI heads).

Private methods may change without notice: when one is missing, the error
names it and the versions this module was written for.

It also holds the shim that lets mmrotate (the optional extra ``rotated``,
onedl-mmrotate 1.2) import on mmdet 3.3: :func:`alias_faster_coco_metric`.
"""
from importlib import metadata
from typing import Dict, Sequence

from torch import Tensor

from .version import SUPPORTED


def private_method(obj, name: str, package: str):
    """``obj.<name>``, a private method of ``package``; AttributeError
    naming it and the supported versions when it is missing."""
    method = getattr(obj, name, None)
    if callable(method):
        return method
    low, high = SUPPORTED[package]
    try:
        installed = metadata.version(package)
    except metadata.PackageNotFoundError:
        installed = 'not installed'
    raise AttributeError(
        f'{type(obj).__name__} has no method {name}: mmrskd calls this '
        f'private {package} method (mmrskd/compat.py), written for '
        f'{package}>={low},<{high}; installed: {package} {installed}. '
        'Install the tested versions from requirements/runtime.txt.')


def cls_head_loss(head, cls_score: Tensor, data_samples: Sequence,
                  **kwargs) -> Dict[str, Tensor]:
    """An mmpretrain classification head's losses from its logits
    ``cls_score`` (``head._get_loss``)."""
    return private_method(head, '_get_loss', 'mmpretrain')(
        cls_score, data_samples, **kwargs)


def roi_bbox_forward(roi_head, feats: Sequence[Tensor],
                     rois: Tensor) -> Dict[str, Tensor]:
    """An mmdet ``StandardRoIHead``'s outputs (``cls_score``,
    ``bbox_pred``, ...) on ``rois`` (``roi_head._bbox_forward``)."""
    return private_method(roi_head, '_bbox_forward', 'mmdet')(feats, rois)


def alias_faster_coco_metric() -> None:
    """Give ``mmdet.evaluation`` the ``FasterCocoMetric`` that mmrotate
    imports (idempotent).

    ``mmrotate.evaluation`` (onedl-mmrotate 1.2) imports
    ``FasterCocoMetric`` from ``mmdet.evaluation``, which mmdet 3.3 lacks
    (only the onedl fork of mmdet has it), so importing any of mmrotate's
    metrics fails. mmdet's ``CocoMetric`` stands in for it: it is the base
    class of mmrotate's ``RotatedCocoMetric`` only (not used by mmrskd);
    ``DOTAMetric`` does not depend on it.

    It has to run before mmrotate is imported, in every process that
    imports it: ``DOTAMetric`` computes its TP/FP in worker processes
    started with ``spawn``, which import mmrotate again (a worker without
    the alias dies on the ImportError and the evaluation waits forever).
    ``import mmrskd`` runs it, and a spawned worker re-imports the main
    script, which imports mmrskd (``tools/train.py``, ``tools/test.py``),
    so a config's ``custom_imports`` would come too late.
    """
    from mmdet import evaluation
    if not hasattr(evaluation, 'FasterCocoMetric'):
        evaluation.FasterCocoMetric = evaluation.CocoMetric
