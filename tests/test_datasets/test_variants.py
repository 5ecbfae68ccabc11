"""Finite augmentation groups: which pipelines qualify, and each variant's
forced pipeline gives exactly the image the random pipeline gives when it
draws that variant."""
import numpy as np
import pytest
import torch
from mmcv.transforms import Compose
from mmengine.registry import init_default_scope

import mmrskd  # noqa: F401
from mmrskd.datasets.variants import pipeline_variants, variant_of

FLIP = dict(type='RandomFlip', prob=[0.25, 0.25],
            direction=['horizontal', 'vertical'])


def _keys(pipeline):
    out = pipeline_variants(pipeline)
    return None if out is None else [k for k, _ in out]


def test_which_pipelines_are_finite_groups():
    resize = dict(type='Resize', scale=(32, 32))
    pack = dict(type='PackInputs')
    assert _keys([resize, FLIP, pack]) == \
        ['flip=none', 'flip=horizontal', 'flip=vertical']
    # prob as one float over several directions: split evenly (mmcv)
    assert _keys([resize, dict(type='RandomFlip', prob=0.5,
                               direction=['horizontal', 'vertical',
                                          'diagonal']), pack]) == \
        ['flip=none', 'flip=horizontal', 'flip=vertical', 'flip=diagonal']
    # mmcv's default direction; an outcome of probability 0 is left out
    assert _keys([dict(type='RandomFlip', prob=1.0), pack]) == \
        ['flip=horizontal']
    assert _keys([dict(type='RandomFlip', prob=[0.5, 0.0],
                       direction=['horizontal', 'vertical'])]) == \
        ['flip=none', 'flip=horizontal']
    assert _keys([resize, pack]) == ['flip=none']
    # random crops, a second flip or an unknown transform: not finite
    assert _keys([resize, dict(type='RandomCrop', crop_size=24), FLIP,
                  pack]) is None
    assert _keys([FLIP, FLIP, pack]) is None
    assert _keys([dict(type='MyTransform'), FLIP]) is None
    with pytest.raises(ValueError, match='one direction each'):
        pipeline_variants([dict(type='RandomFlip', prob=[0.2, 0.2],
                                direction='horizontal')])


def test_forced_variant_is_the_randomly_drawn_image():
    init_default_scope('mmpretrain')
    rng = np.random.RandomState(0)
    img = rng.randint(0, 255, (40, 28, 3), dtype=np.uint8)  # not square
    pipeline = [dict(type='Resize', scale=(24, 20)), FLIP,
                dict(type='PackInputs')]
    forced = {k: Compose(p)(dict(img=img.copy()))
              for k, p in pipeline_variants(pipeline)}
    drawn = Compose(pipeline)
    seen = set()
    for seed in range(40):
        np.random.seed(seed)
        out = drawn(dict(img=img.copy()))
        key = variant_of(out['data_samples'])
        seen.add(key)
        assert torch.equal(out['inputs'], forced[key]['inputs']), key
    assert seen == set(forced)
    # the variants are different images
    a, b, c = (forced[k]['inputs'] for k in
               ('flip=none', 'flip=horizontal', 'flip=vertical'))
    assert not torch.equal(a, b) and not torch.equal(a, c)
    assert torch.equal(b, a.flip(-1)) and torch.equal(c, a.flip(-2))
