"""Global context block of FGD's global distillation: Yang, Li, Jiang,
Gong, Yuan, Zhao, Yuan. Focal and Global Knowledge Distillation for Detectors,
CVPR 2022 (arXiv 2111.11837). Official code: https://github.com/yzd-v/FGD
(``mmdet/distillation/losses/fgd.py``, ``spatial_pool`` and
``get_rela_loss``). The block is GcNet's (Cao et al., ICCV-W 2019) with the
``add`` fusion. Used by :class:`mmrskd.models.det.losses.fgd_loss.FGDLoss`.
"""
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor


def global_context(x: Tensor, conv_mask: nn.Module,
                   channel_add: nn.Module) -> Tensor:
    """``R(F) = F + W_v2(ReLU(LN(W_v1(sum_j softmax_j(W_k F)_j F_j))))``.

    ``conv_mask`` is ``W_k`` (C -> 1, 1x1), ``channel_add`` the
    ``W_v1 -> LN -> ReLU -> W_v2`` bottleneck on the (N, C, 1, 1) context,
    added to every position. The softmax runs over the H*W positions. The
    context is an elementwise product and sum (the official code uses a
    ``matmul``: the same value, but it stays in ``x``'s dtype under autocast).
    The learned layers' outputs are cast back to ``x``'s dtype.
    """
    weights = F.softmax(conv_mask(x).to(x.dtype).flatten(2), dim=2)
    context = (x.flatten(2) * weights).sum(2)[:, :, None, None]
    return x + channel_add(context).to(x.dtype)


class GlobalContext(nn.Module):
    """The learned part of one map's global relation ``R`` (see
    :func:`global_context`), initialised as the official code: ``conv_mask``
    Kaiming-normal (fan in, ReLU gain) with zero bias, the last conv of
    ``channel_add_conv`` all zeros, so ``R(F) = F`` at the start.

    Args:
        channels: channels C of the map (the bottleneck has C // 2).
    """

    def __init__(self, channels: int = 256):
        super().__init__()
        if not isinstance(channels, int) or channels < 2:
            raise ValueError(f'GlobalContext: channels must be an integer '
                             f'>= 2, got {channels!r}.')
        self.conv_mask = nn.Conv2d(channels, 1, kernel_size=1)
        self.channel_add_conv = nn.Sequential(
            nn.Conv2d(channels, channels // 2, kernel_size=1),
            nn.LayerNorm([channels // 2, 1, 1]),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels // 2, channels, kernel_size=1))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.kaiming_normal_(self.conv_mask.weight, mode='fan_in',
                                nonlinearity='relu')
        nn.init.zeros_(self.conv_mask.bias)
        nn.init.zeros_(self.channel_add_conv[-1].weight)
        nn.init.zeros_(self.channel_add_conv[-1].bias)

    def forward(self, x: Tensor) -> Tensor:
        return global_context(x, self.conv_mask, self.channel_add_conv)
