"""MLKD: Jin, Wang, Lin. Multi-Level Logit Distillation, CVPR 2023
(pp. 24276-24285; CVF open access, no arXiv id known). Official code:
https://github.com/Jin-Ying/Multi-Level-Logit-Distillation, class ``KD_ours``
in ``mdistiller/distillers/KD_ours.py`` (copied as ``MLKD.py`` by later
repositories). Only that code was checked here, not the paper's equations.

With ``ps, pt = softmax(z / T)`` of the student / teacher (B, C) logits,
summed over the augmented temperatures ``T`` (``Ws, Wc`` defined below):

    L = Ws * sum_T [w_ins * T^2 * mean_i KL(pt_i || ps_i)
                    + w_bat * ||pt pt^T - ps ps^T||_F^2 / B]
        + Wc * sum_T w_cls * ||pt^T pt - ps^T ps||_F^2 / C

Behaviour of the official code, followed here:

- temperatures: ``{KD.TEMPERATURE, 2, 3, 5, 6}``, i.e. (2, 3, 4, 5, 6) on
  CIFAR-100 (default T=4) and (1, 2, 3, 5, 6) on ImageNet (configs set
  T=1). The terms are summed over temperatures, not averaged; only the KL
  term carries ``T^2``.
- confidence "mask": ``conf_i = max softmax(zt_i)`` (T=1) and
  ``mask_i = conf_i <= percentile_50(conf)`` (numpy linear percentile), so
  it selects the LOW-confidence half. But the KL and batch terms are first
  reduced to scalars and then ``(scalar * mask).mean()`` is taken, so the
  mask only scales them by ``Ws = mean_i mask_i`` (0.5 for an even batch of
  distinct confidences). The class term uses ``Wc = mean_c [s_c <=
  percentile_50(s)]`` with ``s = sum_i softmax(zt_i)``. This module
  reproduces exactly that factor (``confidence_percentile=None`` sets
  ``Ws = Wc = 1``); the per-sample masking the ``reduce=False`` comments
  hint at is never executed there.
- no ground truth enters the distillation terms; the CE weight (0.1 CIFAR /
  0.5 ImageNet) belongs to the classifier head, and ``KD.LOSS.KD_WEIGHT``
  (0.9 CIFAR / 0.5 ImageNet) multiplies every term: set ``loss_weight``.
- the B x B and C x C terms are per process (DataParallel replica in the
  official code, GPU in DDP here): they grow with the per-GPU batch
  (doubling a batch doubles the batch term and quadruples the class term).

Official two-view recipe (its trainer ``AugTrainer``; here
``ClsDistiller(views=2)``, docs/methods.md "MLKD"): a weak view (crop +
flip) and a strong one (an independent crop + flip, FixMatch-style
RandAugment with 2 ops of random magnitude, a grey Cutout of up to half the
side), both seen by teacher and student; the total is ``ce_w * (CE(weak) +
CE(strong)) + KD_WEIGHT * (...)``: all of the above on the weak view (mask
from the weak teacher), plus an unmasked KL-only sum on the strong view for
T in {T0, 3, 5}; the strong term's T=2 and T=6 KL entries reuse the WEAK
logits (copy-paste in the official code), its batch/class terms are never
added. On CIFAR, with this loss (all three with ``loss_weight=KD_WEIGHT``):
``MLKDLoss()(weak) + MLKDLoss(temperatures=(3, 4, 5), batch_weight=0,
class_weight=0, confidence_percentile=None)(strong) + MLKDLoss(
temperatures=(2, 6), <same>)(weak)``; on ImageNet 4 -> 1 in both sets.

Optional logit standardization (Sun et al., CVPR 2024, arXiv 2403.01427;
``MLKD`` in https://github.com/sunshangquan/logit-standardization-KD,
``mdistiller/distillers/MLKD.py``): ``logit_standardize=True`` Z-scores both
logits (``utils.standardize``) in the instance KL terms only, as that code
does; the batch and class terms and the confidence factors keep the raw
logits. Its MLKD recipe (``--logit-stand --base-temp 2 --kd-weight 9``)
replaces ``KD.TEMPERATURE`` by 2 and ``KD_WEIGHT`` by 9:
``temperatures=(2, 3, 5, 2, 6), loss_weight=9`` (T=2 twice).
"""
from typing import Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmpretrain.registry import MODELS
from torch import Tensor

from .utils import kl_rows, standardize


def below_percentile_fraction(values: Tensor, percentile: float) -> Tensor:
    """``mean(values <= percentile(values))``, linear interpolation as in
    ``numpy.percentile``: the official code's mask, reduced as it uses it."""
    v = values.detach().flatten()
    v = v.to(torch.promote_types(v.dtype, torch.float32))
    threshold = torch.quantile(v, percentile / 100.0)
    return (v <= threshold).to(v.dtype).mean()


def mlkd_loss(student_logits: Tensor, teacher_logits: Tensor,
              temperatures: Sequence[float] = (2.0, 3.0, 4.0, 5.0, 6.0),
              confidence_percentile: Optional[float] = 50.0,
              instance_weight: float = 1.0, batch_weight: float = 1.0,
              class_weight: float = 1.0,
              logit_standardize: bool = False) -> Tensor:
    """The MLKD distillation terms of one view (see the module docstring).

    Teacher logits are detached. ``confidence_percentile=None`` disables
    the official confidence factors. A term with weight 0 is not computed.
    ``logit_standardize`` Z-scores the logits of the instance terms only.
    """
    zs, zt = student_logits, teacher_logits.detach()
    zs_kl, zt_kl = (standardize(zs), standardize(zt)) if logit_standardize \
        else (zs, zt)
    n, c = zs.shape
    w_s = w_c = 1.0
    if confidence_percentile is not None:
        p1 = F.softmax(zt, dim=1)
        w_s = below_percentile_fraction(p1.max(dim=1).values,
                                        confidence_percentile)
        w_c = below_percentile_fraction(p1.sum(dim=0), confidence_percentile)
    sample_terms = zs.new_zeros(())
    class_terms = zs.new_zeros(())
    for t in temperatures:
        log_ps = F.log_softmax(zs / t, dim=1)
        log_pt = F.log_softmax(zt / t, dim=1)
        ps, pt = log_ps.exp(), log_pt.exp()
        if instance_weight:
            kl = kl_rows(log_pt, log_ps) if not logit_standardize else \
                kl_rows(F.log_softmax(zt_kl / t, dim=1),
                        F.log_softmax(zs_kl / t, dim=1))
            sample_terms = sample_terms + instance_weight * t * t * kl.mean()
        if batch_weight:
            gram = pt @ pt.t() - ps @ ps.t()
            sample_terms = sample_terms + batch_weight * gram.pow(2).sum() / n
        if class_weight:
            corr = pt.t() @ pt - ps.t() @ ps
            class_terms = class_terms + class_weight * corr.pow(2).sum() / c
    return w_s * sample_terms + w_c * class_terms


@MODELS.register_module()
class MLKDLoss(nn.Module):
    """Multi-level logit distillation: ``loss_weight * mlkd_loss(...)``.

    Args:
        temperatures: augmented temperatures (official CIFAR set).
        confidence_percentile: percentile (0-100) of the official confidence
            factors; None disables them.
        instance_weight: weight of the per-sample KL term.
        batch_weight: weight of the B x B batch-level term.
        class_weight: weight of the C x C class-level term.
        loss_weight: overall weight (official ``KD_WEIGHT``: 0.9 / 0.5).
        logit_standardize: Z-score both logits in the instance terms (logit
            standardization; its recipe: ``temperatures=(2, 3, 5, 2, 6),
            loss_weight=9``). Defaults to False.
    """

    def __init__(self,
                 temperatures: Sequence[float] = (2.0, 3.0, 4.0, 5.0, 6.0),
                 confidence_percentile: Optional[float] = 50.0,
                 instance_weight: float = 1.0, batch_weight: float = 1.0,
                 class_weight: float = 1.0, loss_weight: float = 1.0,
                 logit_standardize: bool = False):
        super().__init__()
        if (not isinstance(temperatures, (tuple, list)) or not temperatures
                or any(not t > 0 for t in temperatures)):
            raise ValueError(f'MLKDLoss: temperatures must be a non-empty '
                             f'tuple of values > 0, got {temperatures!r}.')
        if confidence_percentile is not None and not (
                0 <= confidence_percentile <= 100):
            raise ValueError(f'MLKDLoss: confidence_percentile must be in '
                             f'[0, 100] or None, got {confidence_percentile}.')
        for name, value in (('instance_weight', instance_weight),
                            ('batch_weight', batch_weight),
                            ('class_weight', class_weight)):
            if not value >= 0:
                raise ValueError(f'MLKDLoss: {name} must be >= 0, got '
                                 f'{value}.')
        self.temperatures = tuple(float(t) for t in temperatures)
        self.confidence_percentile = confidence_percentile
        self.instance_weight, self.batch_weight, self.class_weight = (
            instance_weight, batch_weight, class_weight)
        self.loss_weight = loss_weight
        self.logit_standardize = logit_standardize

    def forward(self, student_logits: Tensor, teacher_logits: Tensor,
                labels: Optional[Tensor] = None) -> Tensor:
        """``labels`` is accepted for a uniform signature and unused."""
        return self.loss_weight * mlkd_loss(
            student_logits, teacher_logits, self.temperatures,
            self.confidence_percentile, self.instance_weight,
            self.batch_weight, self.class_weight, self.logit_standardize)
