"""Finite augmentation groups: training pipelines whose randomness has a few
outcomes only, so that the teacher's output of every outcome can be computed
once and served for any number of epochs and any seed.

A pipeline qualifies when each of its transforms is deterministic
(:data:`DETERMINISTIC`) except at most one ``RandomFlip``: on a fixed resize,
the image a sample gets is then one of the flip's outcomes - no flip,
horizontal, vertical, diagonal (the 180-degree rotation) - whatever the seed
and the epoch. :func:`pipeline_variants` lists the outcomes with nonzero
probability, each with a deterministic pipeline that produces exactly it
(the same ``RandomFlip`` forced to that outcome), and
:func:`variant_of` reads which outcome a packed training sample got from
the ``flip_direction`` its metainfo carries (``PackInputs`` packs it by
default). Any other random transform (random crops, resized crops, colour
jitter, ...) has too many outcomes: :func:`pipeline_variants` returns None
and a cache stores every epoch instead.
"""
import copy
from typing import List, Optional, Sequence, Tuple

#: transforms with no random draw (mmcv / mmpretrain types)
DETERMINISTIC = frozenset({
    'LoadImageFromFile', 'Resize', 'ResizeEdge', 'CenterCrop', 'Pad',
    'PackInputs', 'PackClsInputs', 'ToTensor', 'Transpose', 'ImageToTensor',
    'Normalize', 'ToNumpy', 'Collect'
})
NO_FLIP = 'flip=none'


def _flip_outcomes(cfg: dict) -> List[Tuple[Optional[str], float]]:
    """(direction or None, probability) of each outcome of a mmcv
    ``RandomFlip`` config (its defaults: ``direction='horizontal'``)."""
    prob = cfg.get('prob')
    direction = cfg.get('direction', 'horizontal')
    if prob is None:
        return [(None, 1.0)]
    if isinstance(prob, (list, tuple)):
        if not isinstance(direction, (list, tuple)) or \
                len(direction) != len(prob):
            raise ValueError(f'RandomFlip: prob {prob} needs one direction '
                             f'each, got {direction!r}')
        outcomes = list(zip(direction, map(float, prob)))
    elif isinstance(direction, (list, tuple)):
        outcomes = [(d, float(prob) / len(direction)) for d in direction]
    else:
        outcomes = [(direction, float(prob))]
    total = sum(p for _, p in outcomes)
    return [(None, 1.0 - total)] + outcomes


def flip_key(direction: Optional[str]) -> str:
    return NO_FLIP if direction is None else f'flip={direction}'


def pipeline_variants(pipeline: Sequence[dict]
                      ) -> Optional[List[Tuple[str, List[dict]]]]:
    """(key, deterministic pipeline) of every outcome of ``pipeline`` that
    has a nonzero probability, or None when its randomness is not such a
    finite group (see the module docstring)."""
    flips = [i for i, t in enumerate(pipeline)
             if t.get('type') == 'RandomFlip']
    others = [t.get('type') for t in pipeline
              if t.get('type') != 'RandomFlip']
    if len(flips) > 1 or any(t not in DETERMINISTIC for t in others):
        return None
    if not flips:
        return [(NO_FLIP, [dict(t) for t in pipeline])]
    at = flips[0]
    out = []
    for direction, p in _flip_outcomes(pipeline[at]):
        if p <= 0:
            continue
        forced = copy.deepcopy(list(pipeline))
        forced[at] = dict(forced[at], prob=0.0 if direction is None else 1.0,
                          direction=direction or 'horizontal')
        out.append((flip_key(direction), forced))
    return out


def variant_of(sample) -> str:
    """The variant key of a packed training sample (its metainfo's
    ``flip_direction``; no flip when the pipeline has none)."""
    return flip_key(sample.get('flip_direction') if sample.get('flip')
                    else None)
