"""How much of the student's gradient each loss term contributes.

A distillation loss that is far larger than the task loss in gradient terms
turns training into "copy the teacher" (e.g. DKD's beta * NCKD on a small
student, docs/benchmarks.md); this measures it on real batches.
"""
from typing import Dict, Iterable, List

import torch
import torch.nn as nn
from torch import Tensor


def term_value(loss) -> Tensor:
    """A loss entry as one scalar, reduced as mmengine's
    ``BaseModel.parse_losses`` does (mean of a tensor, sum over mmdet's
    per-level lists) but keeping the graph, which ``parse_losses`` detaches
    for logging."""
    if isinstance(loss, Tensor):
        return loss.mean()
    return sum(term_value(x) for x in loss)


def gradient_norms(losses: Dict[str, object], params: List[nn.Parameter]
                   ) -> Dict[str, Dict[str, float]]:
    """``{name: {'loss': value, 'grad_norm': ||d value / d params||_2}}`` for
    every entry of ``losses`` whose name contains ``loss`` (mmengine's rule
    for what is summed into the training loss), plus ``total`` for their
    sum. A term that does not reach ``params`` has norm 0."""
    terms = {k: term_value(v) for k, v in losses.items() if 'loss' in k}
    if not terms:
        raise ValueError(f'No loss terms among {sorted(losses)}.')
    terms['total'] = sum(terms.values())
    out = {}
    for name, value in terms.items():
        grads = torch.autograd.grad(
            value, params, retain_graph=True,
            allow_unused=True) if value.requires_grad else []
        sq = sum((g.double() ** 2).sum() for g in grads if g is not None)
        out[name] = dict(loss=float(value.detach()),
                         grad_norm=float(torch.as_tensor(sq).sqrt()))
    return out


def loss_balance(model: nn.Module, batches: Iterable[dict]
                 ) -> Dict[str, Dict[str, float]]:
    """Mean loss and mean gradient norm (over the student's parameters, or
    the model's for a plain model) of every loss term over ``batches``
    (dataloader outputs), with the model in training mode as in a train
    step; parameters are not updated and BN statistics are restored."""
    student = getattr(model, 'student', model)
    params = [p for p in student.parameters() if p.requires_grad]
    state = {k: v.clone() for k, v in model.state_dict().items()}
    was_training = model.training
    model.train()
    sums: Dict[str, Dict[str, float]] = {}
    count = 0
    try:
        for batch in batches:
            data = model.data_preprocessor(batch, True)
            losses = model(**data, mode='loss')
            for name, v in gradient_norms(losses, params).items():
                acc = sums.setdefault(name, dict(loss=0.0, grad_norm=0.0))
                acc['loss'] += v['loss']
                acc['grad_norm'] += v['grad_norm']
            count += 1
    finally:
        model.load_state_dict(state)
        model.train(was_training)
    if not count:
        raise ValueError('loss_balance: no batches.')
    return {k: {m: x / count for m, x in v.items()} for k, v in sums.items()}
