"""Box geometry the detection distillation losses share, for horizontal
boxes ``(x1, y1, x2, y2)`` (mmdet) and oriented boxes ``(cx, cy, w, h,
theta)`` (mmrotate's ``RotatedBoxes``: theta in radians, the w side along
``(cos theta, sin theta)`` in image coordinates, y down). The two are told
apart by the last dimension: 4 or 5."""
from typing import Tuple

import torch
from torch import Tensor


def is_rotated(boxes: Tensor) -> bool:
    """Whether ``boxes`` (..., 4 or 5) are oriented boxes."""
    if boxes.size(-1) not in (4, 5):
        raise ValueError(f'Boxes must have 4 (x1, y1, x2, y2) or 5 (cx, cy, '
                         f'w, h, theta) values, got shape '
                         f'{tuple(boxes.shape)}.')
    return boxes.size(-1) == 5


def box_wh(boxes: Tensor) -> Tuple[Tensor, Tensor]:
    """Width and height (K,) of each box (the sides of an oriented one)."""
    if is_rotated(boxes):
        return boxes[:, 2], boxes[:, 3]
    return boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]


def points_in_boxes(xs: Tensor, ys: Tensor, boxes: Tensor) -> Tensor:
    """(K, H, W) bool: whether the grid point ``(xs[j], ys[i])`` lies in box
    k (borders included). An oriented box tests the point's offset from the
    centre in the box's frame: ``|u| <= w / 2`` and ``|v| <= h / 2`` with
    ``u = dx cos t + dy sin t``, ``v = -dx sin t + dy cos t``."""
    b = boxes.float()
    if not is_rotated(b):
        in_x = (xs[None, :] >= b[:, 0:1]) & (xs[None, :] <= b[:, 2:3])
        in_y = (ys[None, :] >= b[:, 1:2]) & (ys[None, :] <= b[:, 3:4])
        return in_y[:, :, None] & in_x[:, None, :]
    dx = xs[None, None, :] - b[:, 0, None, None]
    dy = ys[None, :, None] - b[:, 1, None, None]
    cos, sin = (f(b[:, 4])[:, None, None] for f in (torch.cos, torch.sin))
    u, v = dx * cos + dy * sin, -dx * sin + dy * cos
    return (u.abs() <= b[:, 2, None, None] / 2) & \
        (v.abs() <= b[:, 3, None, None] / 2)


def cells_in_boxes(boxes: Tensor, size: Tuple[int, int],
                   stride: Tuple[float, float]) -> Tensor:
    """(K, H, W) bool: the cells of an (H, W) map, ``stride = (s_y, s_x)``
    pixels each, whose centre lies in box k (:func:`points_in_boxes`)."""
    (h, w), (sy, sx) = size, stride
    ys = (torch.arange(h, device=boxes.device, dtype=torch.float32) + .5) * sy
    xs = (torch.arange(w, device=boxes.device, dtype=torch.float32) + .5) * sx
    return points_in_boxes(xs, ys, boxes)


def aligned_iou(pred: Tensor, target: Tensor) -> Tensor:
    """IoU of each predicted box with its target (P,): mmdet's
    ``bbox_overlaps`` for horizontal boxes, mmcv's ``box_iou_rotated`` (a CPU
    and a CUDA kernel, the IoU mmrotate's rotated assigners use) for
    oriented ones."""
    if is_rotated(pred):
        from mmcv.ops import box_iou_rotated
        return box_iou_rotated(pred.float(), target.float(), aligned=True)
    from mmdet.structures.bbox import bbox_overlaps
    return bbox_overlaps(pred, target, is_aligned=True)
