"""DFT flip alignment of feature maps (Ma et al., IEEE GRSL 2026).

Teacher and student have different receptive fields, so spatially matched
feature maps describe different regions; remote-sensing objects (airplanes,
ships, tanks) are symmetric, so the student's map is compared with the
teacher's in the orientation (flip / rotation) where it matches best. The
paper gives no closed form; this is mmrskd's reading of its text
(docs/methods.md).
"""
from typing import Callable, Dict, List, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.logging import MessageHub
from mmpretrain.registry import MODELS
from torch import Tensor

from .utils import normalize_per_sample

#: name -> transform of an (N, C, H, W) map. The first four keep any shape;
#: the last four (with them, the 8 symmetries of the square) need H == W.
TRANSFORMS: Dict[str, Callable[[Tensor], Tensor]] = {
    'identity': lambda x: x,
    'hflip': lambda x: x.flip(3),
    'vflip': lambda x: x.flip(2),
    'rot180': lambda x: x.flip(2, 3),
    'rot90': lambda x: x.rot90(1, (2, 3)),
    'rot270': lambda x: x.rot90(3, (2, 3)),
    'transpose': lambda x: x.transpose(2, 3),
    'antitranspose': lambda x: x.transpose(2, 3).flip(2, 3),
}
RECT_TRANSFORMS = ('identity', 'hflip', 'vflip', 'rot180')


def candidate_names(height: int, width: int,
                    allowed: Optional[Tuple[str, ...]] = None
                    ) -> List[str]:
    """The transforms that apply to an H x W map (all 8 when square)."""
    names = list(TRANSFORMS) if height == width else list(RECT_TRANSFORMS)
    if allowed is not None:
        unknown = [a for a in allowed if a not in TRANSFORMS]
        if unknown:
            raise ValueError(f'Unknown transform(s) {unknown}; choose from '
                             f'{list(TRANSFORMS)}.')
        names = [n for n in names if n in allowed]
    return names


def flip_align_distances(student: Tensor, teacher: Tensor,
                         names: List[str]) -> Tensor:
    """``d_ig = mean_{c,h,w} (g(Fs_i) - Ft_i)^2`` for every transform g;
    inputs are already aligned in shape and normalised. Returns (N, G)."""
    return torch.stack([((TRANSFORMS[n](student) - teacher)**2).flatten(1)
                        .mean(1) for n in names], dim=1)


def flip_align_loss(distances: Tensor, mode: str = 'hard',
                    k: float = 1.0) -> Tensor:
    """hard: ``mean_i min_g d_ig``; soft: ``mean_i -k logsumexp_g(-d_ig/k)``."""
    if mode == 'hard':
        return distances.min(1).values.mean()
    return (-k * torch.logsumexp(-distances / k, dim=1)).mean()


@MODELS.register_module()
class FlipAlignLoss(nn.Module):
    """Feature distillation with flip/rotation alignment ("DFT").

    A connector (1x1 conv + BN, then bilinear resize when the sizes differ)
    maps the student map to the teacher's shape; it belongs to the loss and
    is dropped at export. Both maps are normalised per sample; the loss is
    the (hard or soft) minimum over the candidate transforms of the mean
    squared difference. The share of each chosen transform is logged to
    mmengine's message hub as ``train/flip_align/<name>``.

    Args:
        student_channels: channels of the student map.
        teacher_channels: channels of the teacher map.
        mode: ``'hard'`` (min) or ``'soft'`` (log-sum-exp).
        k: soft-min temperature.
        transforms: restrict the candidates (e.g. ``('identity', )`` gives
            plain feature MSE). Default: all that fit the map.
        loss_weight: weight of the loss.
        log_name: prefix of the logged histogram.
    """

    def __init__(self, student_channels: int, teacher_channels: int,
                 mode: str = 'hard', k: float = 1.0,
                 transforms: Optional[Tuple[str, ...]] = None,
                 loss_weight: float = 1.0, log_name: str = 'flip_align'):
        super().__init__()
        if mode not in ('hard', 'soft'):
            raise ValueError(f"FlipAlignLoss: mode must be 'hard' or 'soft', "
                             f'got {mode!r}.')
        if transforms is not None:
            candidate_names(1, 1, tuple(transforms))  # validate names
        self.connector = nn.Sequential(
            nn.Conv2d(student_channels, teacher_channels, 1, bias=False),
            nn.BatchNorm2d(teacher_channels))
        self.student_channels = student_channels
        self.mode = mode
        self.k = k
        self.transforms = tuple(transforms) if transforms else None
        self.loss_weight = loss_weight
        self.log_name = log_name

    def align(self, student: Tensor, size: Tuple[int, int]) -> Tensor:
        """Connector, then bilinear resize to the teacher's (H, W)."""
        if student.size(1) != self.student_channels:
            raise ValueError(
                f'FlipAlignLoss: student map has {student.size(1)} channels, '
                f'the connector expects {self.student_channels} '
                '(student_channels).')
        x = self.connector(student)
        if x.shape[2:] != size:
            x = F.interpolate(x, size=size, mode='bilinear',
                              align_corners=False)
        return x

    def forward(self, student_feat: Tensor, teacher_feat: Tensor) -> Tensor:
        teacher_feat = teacher_feat.detach()
        if teacher_feat.size(1) != self.connector[0].out_channels:
            raise ValueError(
                f'FlipAlignLoss: teacher map has {teacher_feat.size(1)} '
                f'channels, expected {self.connector[0].out_channels} '
                '(teacher_channels).')
        h, w = teacher_feat.shape[2:]
        names = candidate_names(h, w, self.transforms)
        s = normalize_per_sample(self.align(student_feat, (h, w)))
        t = normalize_per_sample(teacher_feat)
        d = flip_align_distances(s, t, names)
        self.last_choice = [names[i] for i in d.argmin(1).tolist()]
        if self.training:
            self._log_histogram(names, d.argmin(1))
        return self.loss_weight * flip_align_loss(d, self.mode, self.k)

    def _log_histogram(self, names: List[str], choice: Tensor) -> None:
        hub = MessageHub.get_current_instance()
        counts = torch.bincount(choice, minlength=len(names)).tolist()
        for name, count in zip(names, counts):
            hub.update_scalar(f'train/{self.log_name}/{name}',
                              count / max(len(choice), 1))
