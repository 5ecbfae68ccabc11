"""Turn a distiller checkpoint into a plain mmpretrain/mmdet checkpoint."""
import os
import os.path as osp
from collections import OrderedDict
from typing import Optional

import torch

STUDENT_PREFIX = 'student.'


def student_state_dict(state_dict: dict, source: str = '<state_dict>'
                       ) -> 'OrderedDict[str, torch.Tensor]':
    """Keep the ``student.*`` entries, without the prefix.

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


def export_student(src: str, dst: str, meta: Optional[dict] = None) -> str:
    """Write the student of distiller checkpoint ``src`` to ``dst``.

    The output is ``{'meta': ..., 'state_dict': ...}`` as mmengine writes
    it, so ``mmengine.runner.load_checkpoint`` / ``tools/test.py`` with the
    student's own config (e.g. ``configs/resnet18_nwpu.py``) load it.
    """
    if not osp.isfile(src):
        raise FileNotFoundError(f'Checkpoint "{src}" does not exist.')
    ckpt = torch.load(src, map_location='cpu', weights_only=True)
    state = ckpt.get('state_dict', ckpt)
    out_meta = dict(ckpt.get('meta', {}) or {})
    out_meta.pop('hook_msgs', None)
    out_meta.update(meta or {})
    out_meta['mmrskd_exported_from'] = osp.abspath(src)
    os.makedirs(osp.dirname(osp.abspath(dst)), exist_ok=True)
    torch.save({'meta': out_meta,
                'state_dict': student_state_dict(state, src)}, dst)
    return dst
