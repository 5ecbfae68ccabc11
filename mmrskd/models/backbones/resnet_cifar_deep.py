"""CIFAR-style deep ResNet of depth 6n + 2 (He et al., CVPR 2016, Sec. 4.2).

Three stages of n basic blocks with 16 / 32 / 64 channels after a 3x3 stem;
ResNet110 is n = 18. It is the teacher of the DFT paper (Ma et al., GRSL
2026) on 64 px DOTA object crops. (mmpretrain's ``ResNet_CIFAR`` is the
ImageNet-width ResNet-18/34/50 with a CIFAR stem, not this family.)
"""
from typing import Sequence, Tuple

import torch.nn as nn
from mmengine.model import BaseModule
from mmpretrain.registry import MODELS
from torch import Tensor


class BasicBlock(nn.Module):
    """3x3-3x3 residual block; a 1x1 projection when the shape changes."""

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_ch)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_ch)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or in_ch != out_ch:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_ch, out_ch, 1, stride, bias=False),
                nn.BatchNorm2d(out_ch))

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


@MODELS.register_module()
class ResNetCIFAR(BaseModule):
    """ResNet-(6n+2) for small inputs: ResNet20/32/44/56/110.

    Args:
        depth: 6n + 2 (110 -> n = 18).
        widths: channels of the three stages.
        out_indices: stages to output (0, 1, 2).
        in_channels: input channels.
    """

    def __init__(self, depth: int = 110, widths: Sequence[int] = (16, 32, 64),
                 out_indices: Sequence[int] = (2, ), in_channels: int = 3,
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        if depth < 8 or (depth - 2) % 6:
            raise ValueError(f'ResNetCIFAR depth must be 6n + 2 (20, 32, 44, '
                             f'56, 110, ...), got {depth}.')
        n = (depth - 2) // 6
        self.depth = depth
        self.out_indices = tuple(out_indices)
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, widths[0], 3, 1, 1, bias=False),
            nn.BatchNorm2d(widths[0]), nn.ReLU(inplace=True))
        in_ch = widths[0]
        self.layers = nn.ModuleList()
        for i, width in enumerate(widths):
            blocks = []
            for j in range(n):
                blocks.append(BasicBlock(in_ch, width,
                                         2 if (i > 0 and j == 0) else 1))
                in_ch = width
            self.layers.append(nn.Sequential(*blocks))
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode='fan_out',
                                        nonlinearity='relu')

    def forward(self, x: Tensor) -> Tuple[Tensor, ...]:
        x = self.stem(x)
        outs = []
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)
