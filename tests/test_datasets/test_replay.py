"""Replayable augmentation: the augmented image of (epoch, index) is the same
for any worker count, batch size and persistent workers."""
import pickle

import torch
from mmengine.registry import init_default_scope
from mmengine.runner import Runner

import mmrskd  # noqa: F401
from mmrskd.datasets import ReplayIndex

PIPELINE = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(20, 20)),
    dict(type='RandomCrop', crop_size=12),
    dict(type='RandomFlip', prob=[0.25, 0.25],
         direction=['horizontal', 'vertical']),
    dict(type='PackInputs'),
]


def _augmented(root, sampler, workers, batch, epochs=2, persistent=False):
    """``{(epoch, index): augmented image}`` over ``epochs`` epochs of a
    loader built the way mmengine's Runner builds it."""
    init_default_scope('mmpretrain')
    loader = Runner.build_dataloader(dict(
        batch_size=batch, num_workers=workers,
        persistent_workers=persistent and workers > 0,
        sampler=dict(type=sampler, shuffle=True),
        collate_fn=dict(type='default_collate'),
        dataset=dict(type='RSSceneDataset', data_root=root, split='train',
                     train_ratio=0.8, pipeline=PIPELINE)), seed=7)
    seen = {}
    for epoch in range(epochs):
        loader.sampler.set_epoch(epoch)
        for data in loader:
            for img, sample in zip(data['inputs'], data['data_samples']):
                assert sample.get('replay_epoch', epoch) == epoch
                seen[(epoch, sample.sample_idx)] = img.clone()
    return seen


def test_same_augmentation_for_any_worker_count_and_batch_size(
        make_scene_root):
    root = make_scene_root({'a': 8, 'b': 8})
    a = _augmented(root, 'ReplaySampler', workers=0, batch=2)
    b = _augmented(root, 'ReplaySampler', workers=2, batch=3,
                   persistent=True)
    assert set(a) == set(b) and len(a) == 2 * 12
    assert all(torch.equal(a[k], b[k]) for k in a)
    # the augmentation does change with the epoch
    n = len(a) // 2
    assert sum(not torch.equal(a[(0, i)], a[(1, i)]) for i in range(n)) > 0


def test_default_sampler_does_not_replay(make_scene_root):
    """The comparison above can fail: without the replay the same loaders
    disagree."""
    root = make_scene_root({'a': 8, 'b': 8})
    a = _augmented(root, 'DefaultSampler', workers=0, batch=2)
    b = _augmented(root, 'DefaultSampler', workers=2, batch=3)
    assert any(not torch.equal(a[k], b[k]) for k in a)


def test_replay_index_is_an_int_that_survives_pickling():
    idx = ReplayIndex(5, seed=3, epoch=2)
    assert idx == 5 and [10, 11, 12, 13, 14, 15][idx] == 15 and idx - 1 == 4
    back = pickle.loads(pickle.dumps(idx))
    assert (int(back), back.seed, back.epoch) == (5, 3, 2)


def test_replay_leaves_the_global_generators_alone(make_scene_root):
    """What the process draws outside the pipeline does not depend on the
    samples loaded in between."""
    import numpy as np
    root = make_scene_root({'a': 4})
    init_default_scope('mmpretrain')
    from mmpretrain.registry import DATASETS
    ds = DATASETS.build(dict(type='RSSceneDataset', data_root=root,
                             split='train', train_ratio=0.5,
                             pipeline=PIPELINE))
    np.random.seed(0)
    expected = np.random.rand(3)
    np.random.seed(0)
    ds[ReplayIndex(0, 1, 0)]
    assert np.array_equal(np.random.rand(3), expected)


def test_sampler_order_is_default_samplers(make_scene_root):
    root = make_scene_root({'a': 6, 'b': 6})
    init_default_scope('mmpretrain')
    from mmengine.registry import DATA_SAMPLERS
    from mmpretrain.registry import DATASETS
    ds = DATASETS.build(dict(type='RSSceneDataset', data_root=root,
                             split='train', train_ratio=0.5))
    replay = DATA_SAMPLERS.build(dict(type='ReplaySampler', dataset=ds,
                                      seed=3))
    default = DATA_SAMPLERS.build(dict(type='DefaultSampler', dataset=ds,
                                       seed=3))
    for s in (replay, default):
        s.set_epoch(4)
    assert [int(i) for i in replay] == list(default)
    assert {(i.seed, i.epoch) for i in replay} == {(3, 4)}
