"""Run a trained classifier (or a distiller's student and teacher) over a
test set and keep what the analysis figures need."""
from typing import Dict, Optional

import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import load_checkpoint

from ..utils.model_config import config_model, models_registry


def load_model(cfg: Config, checkpoint: str,
               teacher_ckpt: Optional[str] = None) -> nn.Module:
    """Build the config's model and load ``checkpoint`` (a plain model's, or
    a distiller's with its student and trainable loss parts). A distiller's
    teacher comes from ``teacher_ckpt`` or the config's ``teacher_ckpt``."""
    init_default_scope(cfg.default_scope)
    model_cfg = config_model(cfg)
    if teacher_ckpt is not None:
        model_cfg.teacher_ckpt = teacher_ckpt
    model = models_registry(cfg).build(model_cfg)
    load_checkpoint(model, checkpoint, map_location='cpu', strict=True,
                    logger='silent')
    return model.eval()


def _logits(model: nn.Module, inputs: torch.Tensor):
    feats = model.extract_feat(inputs)
    vec = feats[-1] if isinstance(feats, (tuple, list)) else feats
    return vec.flatten(1), model.head(feats)


@torch.no_grad()
def collect_outputs(model: nn.Module, dataloader) -> Dict[str, torch.Tensor]:
    """``features`` (the student's pooled neck output, N x D), ``logits``
    (N x C), ``labels`` (N,), and for a distiller ``teacher_logits``."""
    student = getattr(model, 'student', model)
    teacher = getattr(model, 'teacher', None)
    pre = model.data_preprocessor
    out = {'features': [], 'logits': [], 'labels': []}
    if teacher is not None:
        out['teacher_logits'] = []
    for batch in dataloader:
        data = pre(batch, False)
        feats, logits = _logits(student, data['inputs'])
        out['features'].append(feats)
        out['logits'].append(logits)
        out['labels'].append(torch.cat([s.gt_label for s in
                                        data['data_samples']]))
        if teacher is not None:
            t_pre = getattr(pre, 'teacher', None)  # DistillDataPreprocessor
            t_in = t_pre(batch, False)['inputs'] if t_pre else data['inputs']
            out['teacher_logits'].append(teacher(
                lambda m, x: m.head(m.extract_feat(x)), t_in))
    return {k: torch.cat(v) for k, v in out.items()}
