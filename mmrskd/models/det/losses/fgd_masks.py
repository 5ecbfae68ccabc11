"""FGD's foreground and background masks: Yang, Li, Jiang, Gong, Yuan, Zhao,
Yuan. Focal and Global Knowledge Distillation for Detectors, CVPR 2022
(arXiv 2111.11837). Official code: https://github.com/yzd-v/FGD
(``mmdet/distillation/losses/fgd.py``). Used by
:class:`mmrskd.models.det.losses.fgd_loss.FGDLoss`."""
from typing import List, Sequence, Tuple

import torch
from torch import Tensor

from .box_geometry import cells_in_boxes, is_rotated

Shape = Tuple[float, float]


def fgd_masks(boxes: Sequence[Tensor], image_shapes: Sequence[Shape],
              like: Tensor) -> Tuple[Tensor, Tensor]:
    """Foreground ``M S`` and background ``(1 - M) / N_bg`` maps (N, H, W)
    for maps shaped as ``like``, as the official code: a box scaled by
    ``(H / img_h, W / img_w)`` covers the cells ``floor(y1)..ceil(y2)`` x
    ``floor(x1)..ceil(x2)`` with ``S = 1 / (H_r W_r)``, ``H_r = ceil(y2) +
    1 - floor(y1)``; a cell in several boxes keeps the largest S.

    Oriented boxes (n_i, 5) cover the cells whose centre lies in them and
    the cell of their centre (:func:`oriented_cells`), ``S`` = 1 / their
    number (the official code has horizontal boxes only)."""
    n, _, h, w = like.shape
    fg = like.new_zeros(n, h, w)
    rows, cols = (torch.arange(k, device=like.device) for k in (h, w))
    for i, (b, (img_h, img_w)) in enumerate(zip(boxes, image_shapes)):
        if b.numel() == 0:
            continue
        b = b.to(like.device)
        b = b if b.is_floating_point() else b.float()
        if is_rotated(b):
            inside = oriented_cells(b, (img_h, img_w), (h, w))
            area = 1.0 / inside.sum((1, 2))
        else:
            x0, x1 = (b[:, 0] / img_w * w).floor(), (b[:, 2] / img_w *
                                                      w).ceil()
            y0, y1 = (b[:, 1] / img_h * h).floor(), (b[:, 3] / img_h *
                                                      h).ceil()
            area = 1.0 / ((y1 + 1 - y0) * (x1 + 1 - x0))
            in_y = (rows >= y0[:, None]) & (rows <= y1[:, None])
            in_x = (cols >= x0[:, None]) & (cols <= x1[:, None])
            inside = in_y[:, :, None] & in_x[:, None, :]
        fg[i] = (inside * area[:, None, None].to(fg.dtype)).amax(0)
    bg = (fg == 0).to(fg.dtype)
    return fg, bg / bg.sum((1, 2), keepdim=True).clamp(min=1)


def oriented_cells(boxes: Tensor, image_shape: Shape,
                   size: Tuple[int, int]) -> Tensor:
    """(K, H, W) bool: the cells of an (H, W) map over an image of
    ``image_shape`` whose centre lies in the oriented box, and the cell of
    the box's centre (so a box smaller than a cell keeps one)."""
    (img_h, img_w), (h, w) = image_shape, size
    sy, sx = img_h / h, img_w / w
    inside = cells_in_boxes(boxes, size, (sy, sx))
    row = (boxes[:, 1] / sy).floor().long().clamp(0, h - 1)
    col = (boxes[:, 0] / sx).floor().long().clamp(0, w - 1)
    inside[torch.arange(len(boxes), device=boxes.device), row, col] = True
    return inside


def image_shapes(shape, n: int) -> List[Shape]:
    """The (H, W) each image's boxes are scaled by: one pair for the
    batch (its padded input shape) or one per image."""
    s = torch.as_tensor(shape, dtype=torch.float64)
    s = s.expand(n, 2) if s.shape == (2, ) else s
    if s.shape != (n, 2) or not bool((s > 0).all()):
        raise ValueError(f'FGDLoss: batch_input_shape must be a positive '
                         f'(H, W) or {n} such pairs, got {shape!r}.')
    return [tuple(p) for p in s.tolist()]
