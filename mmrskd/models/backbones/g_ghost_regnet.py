"""G-Ghost RegNet (Han et al., "GhostNets on Heterogeneous Devices via Cheap
Operations", IJCV 2022), the student of the DKD remote-sensing paper (He et
al., arXiv 2505.19111).

A G-Ghost stage keeps RegNetX's bottlenecks but runs its inner blocks on
only part of the channels ("raw" features). The other ("cheap") channels
come from the first block's output through a 1x1 conv, plus a "mix" of all
intermediate features (pooled, then two 1x1 convs), so the stage costs far
less than the RegNetX stage it replaces.
"""
from typing import List, Sequence, Tuple

import torch
import torch.nn as nn
from mmengine.model import BaseModule
from mmpretrain.registry import MODELS
from torch import Tensor


def _bn_conv(in_ch: int, out_ch: int, kernel: int = 1, stride: int = 1,
             groups: int = 1) -> List[nn.Module]:
    return [nn.Conv2d(in_ch, out_ch, kernel, stride, kernel // 2,
                      groups=groups, bias=False), nn.BatchNorm2d(out_ch)]


class XBlock(nn.Module):
    """RegNetX bottleneck (expansion 1): 1x1 - grouped 3x3 - 1x1 + shortcut.

    ``group_width`` channels per group of the 3x3 conv.
    """

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1,
                 group_width: int = 1):
        super().__init__()
        groups = out_ch // min(out_ch, group_width)
        self.body = nn.Sequential(
            *_bn_conv(in_ch, out_ch), nn.ReLU(inplace=True),
            *_bn_conv(out_ch, out_ch, 3, stride, groups),
            nn.ReLU(inplace=True), *_bn_conv(out_ch, out_ch))
        self.shortcut = None
        if stride != 1 or in_ch != out_ch:
            self.shortcut = nn.Sequential(*_bn_conv(in_ch, out_ch, 1, stride))
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.shortcut is None else self.shortcut(x)
        return self.relu(self.body(x) + identity)


class GGhostStage(nn.Module):
    """A G-Ghost stage of ``depth`` >= 3 blocks.

    ``first`` (strided) -> split into raw (``raw`` channels) and cheap
    parts; ``depth - 2`` inner blocks on the raw part; cheap part =
    ReLU(1x1(cheap) + mix(pooled [first, inner outputs])); ``last`` block on
    [raw, cheap].
    """

    def __init__(self, in_ch: int, out_ch: int, depth: int, stride: int,
                 group_width: int, cheap_ratio: float = 0.5):
        super().__init__()
        self.first = XBlock(in_ch, out_ch, stride, group_width)
        self.last = XBlock(out_ch, out_ch, 1, group_width)
        inner_gw = int(group_width * 0.75)
        self.raw = int(out_ch * (1 - cheap_ratio) / inner_gw) * inner_gw
        cheap = out_ch - self.raw
        self.inner = nn.Sequential(*[
            XBlock(self.raw, self.raw, 1, inner_gw) for _ in range(depth - 2)
        ])
        self.mix = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            *_bn_conv(out_ch + self.raw * (depth - 2), cheap),
            nn.ReLU(inplace=True), *_bn_conv(cheap, cheap))
        self.cheap = nn.Sequential(*_bn_conv(cheap, cheap))
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        x0 = self.first(x)
        feats = [x0]
        raw = x0[:, :self.raw]
        for block in self.inner:
            raw = block(raw)
            feats.append(raw)
        cheap = self.relu(self.cheap(x0[:, self.raw:]) +
                          self.mix(torch.cat(feats, 1)))
        return self.last(torch.cat([raw, cheap], 1))


def plain_stage(in_ch: int, out_ch: int, depth: int, stride: int,
                group_width: int) -> nn.Sequential:
    """RegNetX stage: ``depth`` bottlenecks, the first strided."""
    return nn.Sequential(*[
        XBlock(in_ch if i == 0 else out_ch, out_ch, stride if i == 0 else 1,
               group_width) for i in range(depth)
    ])


@MODELS.register_module()
class GGhostRegNet(BaseModule):
    """G-Ghost RegNetX backbone.

    Stage 1 is a plain RegNetX stage; stages 2-4 are G-Ghost stages when
    they have three or more blocks (plain otherwise), as in the paper.

    Args:
        arch: one of ``regnetx_032``, ``regnetx_040``, ``regnetx_064``,
            ``regnetx_080``, ``regnetx_160``, or a dict with ``depths``,
            ``widths`` and ``group_width``.
        out_indices: stages to output.
        cheap_ratio: share of cheap channels in G-Ghost stages.
    """

    arch_settings = {
        'regnetx_032': dict(depths=(2, 6, 15, 2), widths=(96, 192, 432, 1008),
                            group_width=48),
        'regnetx_040': dict(depths=(2, 5, 14, 2), widths=(80, 240, 560, 1360),
                            group_width=40),
        'regnetx_064': dict(depths=(2, 4, 10, 1),
                            widths=(168, 392, 784, 1624), group_width=56),
        'regnetx_080': dict(depths=(2, 5, 15, 1), widths=(80, 240, 720, 1920),
                            group_width=120),
        'regnetx_160': dict(depths=(2, 6, 13, 1),
                            widths=(256, 512, 896, 2048), group_width=128),
    }

    def __init__(self, arch='regnetx_080', out_indices: Sequence[int] = (3, ),
                 cheap_ratio: float = 0.5, in_channels: int = 3,
                 stem_channels: int = 32, init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        if isinstance(arch, str):
            if arch not in self.arch_settings:
                raise KeyError(f'GGhostRegNet: unknown arch {arch!r}; '
                               f'choose from {list(self.arch_settings)}.')
            arch = self.arch_settings[arch]
        depths, widths = arch['depths'], arch['widths']
        gw = arch['group_width']
        self.out_indices = tuple(out_indices)
        self.widths = tuple(widths)
        self.stem = nn.Sequential(
            *_bn_conv(in_channels, stem_channels, 3, 2),
            nn.ReLU(inplace=True))
        stages, in_ch = [], stem_channels
        for i, (d, w) in enumerate(zip(depths, widths)):
            if i > 0 and d > 2:
                stages.append(GGhostStage(in_ch, w, d, 2, gw, cheap_ratio))
            else:
                stages.append(plain_stage(in_ch, w, d, 2, gw))
            in_ch = w
        self.stages = nn.ModuleList(stages)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode='fan_out',
                                        nonlinearity='relu')

    def forward(self, x: Tensor) -> Tuple[Tensor, ...]:
        x = self.stem(x)
        outs = []
        for i, stage in enumerate(self.stages):
            x = stage(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)
