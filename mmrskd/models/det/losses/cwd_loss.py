"""CWD: Shu, Liu, Gao, Yan, Shen. Channel-wise Knowledge Distillation for
Dense Prediction, ICCV 2021 (arXiv 2011.13256). Official code:
https://github.com/irfanICMLL/TorchDistiller (``SemSeg-distill``,
``CriterionCWD``); mmrazor's ``ChannelWiseDivergence``
(https://github.com/open-mmlab/mmrazor, ``mmrazor/models/losses/cwd.py``,
``configs/distill/mmdet/cwd``) is the same loss, used on FPN levels."""
from typing import Sequence, Union

import torch.nn as nn
import torch.nn.functional as F
from mmdet.registry import MODELS
from torch import Tensor

from ...losses.utils import float_maps

Feats = Union[Tensor, Sequence[Tensor]]


def cwd_loss(student_feats: Sequence[Tensor],
             teacher_feats: Sequence[Tensor], tau: float = 1.0) -> Tensor:
    """``sum_l tau^2 / (N*C) * sum_{n,c} KL(p_t^{n,c} || p_s^{n,c})`` with
    ``p^{n,c} = softmax_{h,w}(f[n, c] / tau)`` over the ``H*W`` positions of
    each channel map of level ``l``; the teacher maps are detached."""
    total = 0.
    for fs, ft in zip(student_feats, teacher_feats):
        n, c = fs.shape[:2]
        log_ps = F.log_softmax(fs.flatten(2) / tau, dim=2)
        log_pt = F.log_softmax(ft.detach().flatten(2) / tau, dim=2)
        kl = (log_pt.exp() * (log_pt - log_ps)).sum()
        total = total + kl * (tau * tau / (n * c))
    return total


@MODELS.register_module()
class CWDLoss(nn.Module):
    """Channel-wise distillation: ``loss_weight * cwd_loss(fs, ft, tau)``.

    Formula: per level, each channel map is turned into a distribution over
    its ``H*W`` positions by a softmax at temperature ``tau``; the loss is
    ``tau^2 * sum KL(teacher || student) / (N * C)``, summed over the levels
    and times ``loss_weight``. Call with tuples of FPN levels
    ``(N, C, H_l, W_l)`` (or one map each); the maps of a level must have
    the same size.

    Paper vs. reference code:

    - the paper averages the channel KLs over ``C``; both codes also
      average over the batch (``/ (N*C)``); we follow them. We use
      ``log_softmax`` for the student (TorchDistiller takes
      ``softmax(x).log()``, -inf for a vanishing probability).
    - defaults: ``tau=1``, ``loss_weight=1`` (mmrazor's module and
      TorchDistiller's options). mmrazor's COCO configs (Faster R-CNN,
      RetinaNet and GFL, R101 -> R50) use ``tau=1, loss_weight=10`` on each
      of the five FPN levels (its README's GFL row says "cls head", but the
      config distils the FPN); its Cityscapes PSPNet logits config ``tau=1,
      loss_weight=5``; TorchDistiller's README ``T=4``, weight 3 on logits.
    - channel mismatch: the paper upsamples the student's channels with a
      1x1 convolution; TorchDistiller's ``cwd_feat`` connector is a 1x1
      conv without bias, BatchNorm and ReLU. With ``student_channels !=
      teacher_channels`` each level gets its own such connector (a
      submodule, so the distiller's optimizer trains it), without the ReLU
      unless ``connector_relu`` (FPN outputs are not rectified). With equal
      channels there is none (mmrazor's detection configs, 256 -> 256).

    Half-precision maps are computed in float32.

    Args:
        tau: softmax temperature. Defaults to 1.
        loss_weight: weight of the loss. Defaults to 1 (mmrazor).
        student_channels: student channels. Defaults to 256.
        teacher_channels: teacher channels. Defaults to 256.
        num_levels: levels (connectors) when the channels differ. Defaults
            to 5.
        connector_relu: ReLU at the end of the connectors. Defaults to False.
    """

    def __init__(self, tau: float = 1.0, loss_weight: float = 1.0,
                 student_channels: int = 256, teacher_channels: int = 256,
                 num_levels: int = 5, connector_relu: bool = False):
        super().__init__()
        if tau <= 0:
            raise ValueError(f'CWDLoss: tau must be > 0, got {tau}.')
        for name, value in (('student_channels', student_channels),
                            ('teacher_channels', teacher_channels),
                            ('num_levels', num_levels)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f'CWDLoss: {name} must be a positive '
                                 f'integer, got {value!r}.')
        self.tau = tau
        self.loss_weight = loss_weight
        self.student_channels = student_channels
        self.teacher_channels = teacher_channels
        self.connectors = None
        if student_channels != teacher_channels:
            self.connectors = nn.ModuleList(
                _connector(student_channels, teacher_channels,
                           connector_relu) for _ in range(num_levels))

    def forward(self, student_feats: Feats, teacher_feats: Feats) -> Tensor:
        s, t = float_maps(student_feats), float_maps(teacher_feats)
        if len(s) != len(t) or not s:
            raise ValueError(f'CWDLoss: got {len(s)} student and {len(t)} '
                             'teacher levels; they must pair one to one (at '
                             'least one).')
        if self.connectors is not None and len(s) != len(self.connectors):
            raise ValueError(f'CWDLoss: got {len(s)} levels but built '
                             f'{len(self.connectors)} connectors; set '
                             'num_levels.')
        for i, (fs, ft) in enumerate(zip(s, t)):
            _check_level(i, fs, ft, self.student_channels,
                         self.teacher_channels, self.connectors is not None)
        if self.connectors is not None:
            dtype = self.connectors[0][1].weight.dtype
            s = [conn(fs.to(dtype)).to(dtype)
                 for conn, fs in zip(self.connectors, s)]
            t = [ft.to(dtype) for ft in t]
        return self.loss_weight * cwd_loss(s, t, self.tau)


def _connector(cin: int, cout: int, relu: bool) -> nn.Sequential:
    layers = [nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout)]
    return nn.Sequential(*layers, *([nn.ReLU()] if relu else []))


def _check_level(i: int, fs: Tensor, ft: Tensor, cs: int, ct: int,
                 connected: bool) -> None:
    if fs.dim() != 4 or ft.dim() != 4 or fs.size(0) != ft.size(0) or \
            fs.shape[2:] != ft.shape[2:]:
        raise ValueError(
            f'CWDLoss: level {i} maps must be (N, C, H, W) with the same N, '
            f'H and W, got {tuple(fs.shape)} and {tuple(ft.shape)}.')
    if connected and (fs.size(1) != cs or ft.size(1) != ct):
        raise ValueError(
            f'CWDLoss: level {i} has {fs.size(1)} student and {ft.size(1)} '
            f'teacher channels; the connectors map {cs} -> {ct}.')
    if not connected and fs.size(1) != ft.size(1):
        raise ValueError(
            f'CWDLoss: level {i} student has {fs.size(1)} channels, the '
            f'teacher {ft.size(1)}; set student_channels and '
            'teacher_channels to add 1x1 conv connectors.')
