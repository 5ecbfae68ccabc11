"""MGD: Yang, Li, Shao, Shi, Yuan, Yuan. Masked Generative
Distillation, ECCV 2022 (arXiv 2205.01529). Official code:
https://github.com/yzd-v/MGD (``det/mmdet/distillation/losses/mgd.py``);
mmrazor's ``MGDConnector`` + ``MGDLoss`` (https://github.com/open-mmlab/
mmrazor, ``mmrazor/models/architectures/connectors/mgd_connector.py``,
``mmrazor/models/losses/mgd_loss.py``) are the same split in two."""
from typing import Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmdet.registry import MODELS
from torch import Tensor

Generator = Union[None, int, torch.Generator]


def mgd_random_mask(n: int, h: int, w: int, lambda_mgd: float,
                    generator: Optional[torch.Generator] = None) -> Tensor:
    """(N, 1, H, W) mask, 0 where ``R > 1 - lambda_mgd`` and 1 elsewhere,
    ``R ~ U[0, 1)`` drawn by ``torch.rand`` on the generator's device (the
    CPU, with the global generator, when ``generator`` is None), as the
    official code: on average a fraction ``lambda_mgd`` is masked."""
    device = generator.device if generator is not None else 'cpu'
    r = torch.rand((n, 1, h, w), generator=generator, device=device)
    return (r <= 1 - lambda_mgd).float()


def mgd_loss(student_feat: Tensor, teacher_feat: Tensor, mask: Tensor,
             generation: nn.Module) -> Tensor:
    """``sum_{n,c,h,w} (G(fs * M) - ft)^2 / N`` of one level: ``fs`` the
    (aligned) student map, ``M`` the (N, 1, H, W) mask, ``G`` the generation
    block; the teacher is detached. ``G``'s output is cast to ``fs``'s
    dtype."""
    masked = student_feat * mask.to(student_feat)
    generated = generation(masked).to(student_feat.dtype)
    diff = generated - teacher_feat.detach().to(generated.dtype)
    return diff.pow(2).sum() / student_feat.size(0)


def _generator(generator: Generator) -> Optional[torch.Generator]:
    if generator is None or isinstance(generator, torch.Generator):
        return generator
    if isinstance(generator, int) and not isinstance(generator, bool):
        return torch.Generator().manual_seed(generator)
    raise ValueError(f'MGDLoss: generator must be None, an int seed or a '
                     f'torch.Generator, got {generator!r}.')


@MODELS.register_module()
class MGDLoss(nn.Module):
    """Masked generative distillation, summed over the FPN levels:
    ``alpha_mgd * sum_l mgd_loss(align_l(fs_l), ft_l, M_l, G_l)``.

    Per level a random spatial mask ``M_l`` (:func:`mgd_random_mask`, a
    fraction ``lambda_mgd`` of positions zeroed, shared by the channels)
    hides part of the (1x1-aligned when the channels differ) student map;
    the generation block ``G_l`` = 3x3 conv, ReLU, 3x3 conv (PyTorch's
    default init, as official) must rebuild the teacher's full map. The
    align convs and generation blocks are learned parts of this loss, one
    per level (the official configs build one loss per FPN level).

    Official code vs paper (we follow the code): the squared error is summed
    and divided by the batch size N; the paper masks ``R < lambda``, the code
    ``R > 1 - lambda`` (same distribution; ours reproduces the code's masks
    from the same random stream). Defaults: the official RetinaNet (and
    RepPoints, SOLO) configs, ``alpha_mgd=2e-5, lambda_mgd=0.65``; the
    Faster/Mask R-CNN configs use ``5e-7, 0.45``.

    ``generator``: None draws the masks from torch's global CPU generator
    (official); an int seeds a private CPU generator; a ``torch.Generator``
    is used as given (on its device). Maps are cast to the learned parts'
    dtype (float32 under autocast).
    """

    def __init__(self, student_channels: int = 256,
                 teacher_channels: int = 256, num_levels: int = 5,
                 alpha_mgd: float = 0.00002, lambda_mgd: float = 0.65,
                 generator: Generator = None):
        super().__init__()
        for name, v in (('student_channels', student_channels),
                        ('teacher_channels', teacher_channels),
                        ('num_levels', num_levels)):
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f'MGDLoss: {name} must be a positive '
                                 f'integer, got {v!r}.')
        if alpha_mgd < 0 or not 0 <= lambda_mgd <= 1:
            raise ValueError(f'MGDLoss: need alpha_mgd >= 0 and 0 <= '
                             f'lambda_mgd <= 1, got {alpha_mgd}, '
                             f'{lambda_mgd}.')
        self.generator = _generator(generator)
        self.channels: Tuple[int, int] = (student_channels, teacher_channels)
        self.num_levels = num_levels
        self.alpha_mgd, self.lambda_mgd = alpha_mgd, lambda_mgd
        c = teacher_channels
        self.align = nn.ModuleList(
            nn.Conv2d(student_channels, c, 1) for _ in range(num_levels)
        ) if student_channels != teacher_channels else None
        self.generation = nn.ModuleList(
            nn.Sequential(nn.Conv2d(c, c, 3, padding=1), nn.ReLU(inplace=True),
                          nn.Conv2d(c, c, 3, padding=1))
            for _ in range(num_levels))

    def forward(self, student_feats: Sequence[Tensor],
                teacher_feats: Sequence[Tensor]) -> Tensor:
        if not len(student_feats) == len(teacher_feats) == self.num_levels:
            raise ValueError(
                f'MGDLoss: expected {self.num_levels} student and teacher '
                f'levels, got {len(student_feats)} and {len(teacher_feats)}.')
        cs, ct = self.channels
        total = 0.
        for lvl, (fs, ft) in enumerate(zip(student_feats, teacher_feats)):
            if fs.dim() != 4 or fs.size(1) != cs or ft.shape != (
                    fs.size(0), ct, *fs.shape[2:]):
                raise ValueError(
                    f'MGDLoss: level {lvl}: student (N, {cs}, H, W) and '
                    f'teacher (N, {ct}, H, W) maps expected, got '
                    f'{tuple(fs.shape)} and {tuple(ft.shape)}.')
            dtype = self.generation[lvl][0].weight.dtype
            fs = fs.to(dtype)
            if self.align is not None:
                fs = self.align[lvl](fs).to(dtype)
            n, _, h, w = fs.shape
            mask = mgd_random_mask(n, h, w, self.lambda_mgd, self.generator)
            total = total + mgd_loss(fs, ft, mask, self.generation[lvl])
        return self.alpha_mgd * total
