"""FitNet: Romero, Ballas, Kahou, Chassang, Gatta, Bengio. FitNets: Hints
for Thin Deep Nets, ICLR 2015 (arXiv 1412.6550). Reference code followed:
mdistiller (github.com/megvii-research/mdistiller, ``FitNet.py`` and
``ConvReg`` in ``_common.py``), the same as RepDistiller
(github.com/HobbitLong/RepDistiller)."""
from typing import Optional, Sequence, Tuple, Union

import torch.nn as nn
import torch.nn.functional as F
from mmpretrain.registry import MODELS
from torch import Tensor

Size = Union[int, Sequence[int]]


def fitnet_loss(regressed: Tensor, teacher_feat: Tensor) -> Tensor:
    """``mean_{n,c,h,w} (r(fs) - ft)^2`` on maps of equal shape; the
    teacher is detached."""
    return F.mse_loss(regressed, teacher_feat.detach())


def _hw(size: Size) -> Tuple[int, int]:
    return (size, size) if isinstance(size, int) else tuple(size)


def conv_regressor(student_channels: int, teacher_channels: int,
                   student_size: Optional[Size] = None,
                   teacher_size: Optional[Size] = None) -> nn.Module:
    """The convolution of mdistiller's ``ConvReg``, chosen by the maps'
    heights ``s_h``, ``t_h``: 3x3 stride-2 conv if ``s_h = 2 t_h``; 4x4
    stride-2 transposed conv if ``2 s_h = t_h``; otherwise, if ``s_h >=
    t_h``, a valid conv of kernel ``(1 + s_h - t_h, 1 + s_w - t_w)`` (1x1
    for equal sizes, also when no size is given)."""
    if student_size is None or teacher_size is None:
        return nn.Conv2d(student_channels, teacher_channels, 1)
    (sh, sw), (th, tw) = _hw(student_size), _hw(teacher_size)
    if sh == 2 * th:
        return nn.Conv2d(student_channels, teacher_channels, 3, 2, 1)
    if 2 * sh == th:
        return nn.ConvTranspose2d(student_channels, teacher_channels, 4, 2,
                                  1)
    if sh >= th and sw >= tw:
        return nn.Conv2d(student_channels, teacher_channels,
                         (1 + sh - th, 1 + sw - tw))
    raise ValueError(f'FitNetLoss: cannot regress a student map of size '
                     f'{(sh, sw)} to a teacher map of size {(th, tw)} (it '
                     'must be twice, half, or at least the teacher size).')


@MODELS.register_module()
class FitNetLoss(nn.Module):
    """Hint loss: ``loss_weight * mean((relu(BN(conv(fs))) - ft)^2)``.

    A learned regressor (mdistiller's ``ConvReg``: conv, BatchNorm, ReLU)
    maps the student's guided-layer map ``fs`` (N, Cs, Hs, Ws) to the
    teacher's hint map ``ft`` (N, Ct, Ht, Wt); the loss is the mean squared
    error over all elements (``F.mse_loss``). The regressor is a submodule,
    so the distiller's optimizer trains it; it is dropped at export.

    Paper vs. reference code (we follow the code):

    - the paper's hint loss is ``1/2 ||u_h - r(v_g)||^2`` (a sum) and is
      trained alone in a first stage, then KD in a second; mdistiller and
      RepDistiller train one stage, ``CE + 100 * mean((r(fs) - ft)^2)``
      (CIFAR-100, hint at the middle stage). This loss is that hint term; we
      keep the paper-style ``loss_weight=1`` (neither repository is the
      authors' code): set ``loss_weight=100`` to reproduce them.
    - the regressor is a conv + BN + ReLU (the paper: a conv regressor with
      the hint layer's non-linearity); ``use_relu=False`` drops the ReLU,
      for hint maps taken before an activation.
    - different spatial sizes: give ``student_size`` and ``teacher_size``
      (H or (H, W)); the convolution is then ``ConvReg``'s, see
      :func:`conv_regressor`. Without them the conv is 1x1.

    Half-precision student maps are cast to the regressor's dtype; the loss
    is computed in the regressor's dtype (float32 under autocast).

    Args:
        student_channels: channels of the student map. Defaults to 128.
        teacher_channels: channels of the teacher map. Defaults to 128.
        student_size: student map size, H or (H, W). Defaults to None.
        teacher_size: teacher map size, H or (H, W). Defaults to None.
        use_relu: ReLU after the BatchNorm. Defaults to True.
        loss_weight: weight of the loss. Defaults to 1.
    """

    def __init__(self, student_channels: int = 128,
                 teacher_channels: int = 128,
                 student_size: Optional[Size] = None,
                 teacher_size: Optional[Size] = None,
                 use_relu: bool = True, loss_weight: float = 1.0):
        super().__init__()
        for name, value in (('student_channels', student_channels),
                            ('teacher_channels', teacher_channels)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f'FitNetLoss: {name} must be a positive '
                                 f'integer, got {value!r}.')
        if (student_size is None) != (teacher_size is None):
            raise ValueError('FitNetLoss: give both student_size and '
                             f'teacher_size or neither, got {student_size!r} '
                             f'and {teacher_size!r}.')
        layers = [conv_regressor(student_channels, teacher_channels,
                                 student_size, teacher_size),
                  nn.BatchNorm2d(teacher_channels)]
        if use_relu:
            layers.append(nn.ReLU())
        self.regressor = nn.Sequential(*layers)
        self.student_channels = student_channels
        self.teacher_channels = teacher_channels
        self.loss_weight = loss_weight

    def forward(self, student_feat: Tensor, teacher_feat: Tensor) -> Tensor:
        if student_feat.dim() != 4 or student_feat.size(1) != \
                self.student_channels:
            raise ValueError(
                f'FitNetLoss: student map must be (N, {self.student_channels}'
                f', H, W), got {tuple(student_feat.shape)}.')
        if teacher_feat.dim() != 4 or teacher_feat.size(1) != \
                self.teacher_channels:
            raise ValueError(
                f'FitNetLoss: teacher map must be (N, {self.teacher_channels}'
                f', H, W), got {tuple(teacher_feat.shape)}.')
        dtype = self.regressor[1].weight.dtype
        regressed = self.regressor(student_feat.to(dtype)).to(dtype)
        if regressed.shape != teacher_feat.shape:
            raise ValueError(
                f'FitNetLoss: regressed student map {tuple(regressed.shape)} '
                f'!= teacher map {tuple(teacher_feat.shape)}; set '
                'student_size and teacher_size for maps of different size.')
        return self.loss_weight * fitnet_loss(regressed,
                                              teacher_feat.to(dtype))
