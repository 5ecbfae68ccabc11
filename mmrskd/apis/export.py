"""Turn a distiller checkpoint into a plain mmpretrain/mmdet checkpoint."""
import os
import os.path as osp
from typing import Optional

import torch

from ..utils.state_dict import (checkpoint_state, read_checkpoint,
                                student_state_dict)

__all__ = ['export_student', 'student_state_dict']


def export_student(src: str, dst: str, meta: Optional[dict] = None) -> str:
    """Write the student of distiller checkpoint ``src`` to ``dst``.

    The output is ``{'meta': ..., 'state_dict': ...}`` as mmengine writes
    it, so ``mmengine.runner.load_checkpoint`` / ``tools/test.py`` with the
    student's own config (e.g. ``configs/resnet18_nwpu.py``) load it.
    """
    ckpt = read_checkpoint(src)
    state = checkpoint_state(ckpt)
    out_meta = dict(ckpt.get('meta', {}) or {})
    out_meta.pop('hook_msgs', None)
    out_meta.update(meta or {})
    out_meta['mmrskd_exported_from'] = osp.abspath(src)
    os.makedirs(osp.dirname(osp.abspath(dst)), exist_ok=True)
    torch.save({'meta': out_meta,
                'state_dict': student_state_dict(state, src)}, dst)
    return dst
