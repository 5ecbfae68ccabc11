import os
import os.path as osp

import pytest

from mmrskd.datasets import (AID, NWPURESISC45, RSOD, RSSCN7,
                             CorruptImageError, RSSceneDataset, UCMerced,
                             normalize_class_name, stratified_split)
from mmrskd.datasets.split import carve_validation

VAL_PINNED = ['15.png', '2.png', '27.png']


def _paths(ds):
    return [ds.get_data_info(i)['img_path'] for i in range(len(ds))]


def _labels(ds):
    return [ds.get_data_info(i)['gt_label'] for i in range(len(ds))]


@pytest.mark.parametrize('cls,n', [(NWPURESISC45, 45), (AID, 30),
                                   (UCMerced, 21), (RSSCN7, 7), (RSOD, 4)])
def test_official_class_lists(cls, n):
    classes = cls.METAINFO['classes']
    assert len(classes) == n
    assert len({normalize_class_name(c) for c in classes}) == n


def test_rsod_and_aid_names():
    assert RSOD.METAINFO['classes'] == ('aircraft', 'oiltank', 'overpass',
                                        'playground')
    assert 'BareLand' in AID.METAINFO['classes']
    assert 'basketball_court' in NWPURESISC45.METAINFO['classes']


def test_split_is_stratified_disjoint_and_complete(make_scene_root):
    counts = {'a': 10, 'b': 7, 'c': 3, 'd': 2}
    root = make_scene_root(counts)
    train = RSSceneDataset(root, split='train', train_ratio=0.8)
    test = RSSceneDataset(root, split='test', train_ratio=0.8)
    assert train.metainfo['classes'] == ('a', 'b', 'c', 'd')
    tr, te = set(_paths(train)), set(_paths(test))
    assert not tr & te
    assert len(tr | te) == sum(counts.values())
    per_class_train = {c: _labels(train).count(i)
                       for i, c in enumerate(counts)}
    # round(n * 0.8), and both parts non-empty for n >= 2.
    assert per_class_train == {'a': 8, 'b': 6, 'c': 2, 'd': 1}
    assert all(_labels(test).count(i) >= 1 for i in range(4))
    assert not train.test_mode and test.test_mode


def test_split_deterministic_and_seeded(make_scene_root):
    root = make_scene_root({'a': 20, 'b': 20})
    a = _paths(RSSceneDataset(root, split='train', train_ratio=0.5))
    b = _paths(RSSceneDataset(root, split='train', train_ratio=0.5))
    c = _paths(RSSceneDataset(root, split='train', train_ratio=0.5,
                              split_seed=1))
    assert a == b
    assert a != c
    assert len(a) == len(c) == 20


def test_split_independent_of_listing_order_and_other_classes():
    files = {'x': [f'{i}.png' for i in range(30)],
             'y': [f'{i}.png' for i in range(12)]}
    tr1, _ = stratified_split(files, 0.8, 3)
    tr2, _ = stratified_split({'x': list(reversed(files['x']))}, 0.8, 3)
    assert tr1['x'] == tr2['x']
    # Pinned: the split must not change across machines or releases (a
    # change here silently changes every published number).
    _, te1 = stratified_split(files, 0.8, 3)
    assert te1['y'] == ['10.png', '4.png']


@pytest.mark.parametrize('ratio', [0, 1, 1.5, -0.2, 'a'])
def test_bad_train_ratio(make_scene_root, ratio):
    root = make_scene_root({'a': 4})
    with pytest.raises(ValueError, match='train_ratio must be strictly'):
        RSSceneDataset(root, train_ratio=ratio)


def test_bad_split_name(make_scene_root):
    root = make_scene_root({'a': 4})
    with pytest.raises(ValueError,
                       match="split must be 'train', 'val' or 'test', got "
                       "'validation'"):
        RSSceneDataset(root, split='validation')


def _splits(root, **kw):
    return {s: RSSceneDataset(root, split=s, **kw)
            for s in ('train', 'val', 'test')}


def test_val_split_carved_from_train_disjoint_and_complete(make_scene_root):
    counts = {'a': 20, 'b': 11, 'c': 5, 'd': 3}
    root = make_scene_root(counts)
    ds = _splits(root, train_ratio=0.8, val_ratio=0.1)
    paths = {s: set(_paths(d)) for s, d in ds.items()}
    assert not paths['train'] & paths['val']
    assert not paths['train'] & paths['test']
    assert not paths['val'] & paths['test']
    assert sum(map(len, paths.values())) == sum(counts.values())
    per_class = {s: [_labels(d).count(i) for i in range(4)]
                 for s, d in ds.items()}
    # train share round(n * 0.8); val round(n * 0.1), at least 1 taken from
    # a training share of 2 or more; the test share is untouched
    assert per_class == {'train': [14, 8, 3, 1], 'val': [2, 1, 1, 1],
                         'test': [4, 2, 1, 1]}
    assert not ds['train'].test_mode and ds['val'].test_mode
    assert ds['test'].test_mode


def test_test_split_does_not_depend_on_val_ratio(make_scene_root):
    root = make_scene_root({'a': 30, 'b': 17, 'c': 6})
    train0 = set(_paths(RSSceneDataset(root, split='train', split_seed=5)))
    test0 = _paths(RSSceneDataset(root, split='test', split_seed=5))
    for val_ratio in (0.05, 0.1, 0.3):
        ds = _splits(root, split_seed=5, val_ratio=val_ratio)
        assert _paths(ds['test']) == test0
        # the validation share comes out of the training share only
        assert set(_paths(ds['train'])) | set(_paths(ds['val'])) == train0
    assert len(_paths(_splits(root, split_seed=5, val_ratio=0.3)['val'])) \
        == 9 + 5 + 2


def test_val_split_deterministic_and_seeded(make_scene_root):
    root = make_scene_root({'a': 40, 'b': 40})
    a = _paths(RSSceneDataset(root, split='val', val_ratio=0.2))
    b = _paths(RSSceneDataset(root, split='val', val_ratio=0.2))
    c = _paths(RSSceneDataset(root, split='val', val_ratio=0.2,
                              split_seed=1))
    assert a == b and a != c and len(a) == len(c) == 16


def test_val_split_pinned():
    # Pinned like the train/test split: a change here silently changes
    # every checkpoint selected on the validation split.
    files = {'x': [f'{i}.png' for i in range(30)]}
    train, test = stratified_split(files, 0.8, 3)
    new_train, val = carve_validation(train, test, 0.1, 3, 0.8)
    assert val['x'] == VAL_PINNED
    assert sorted(new_train['x'] + val['x']) == sorted(train['x'])


@pytest.mark.parametrize('val_ratio', [-0.1, 1, 1.5, 'a', True])
def test_bad_val_ratio_range(make_scene_root, val_ratio):
    root = make_scene_root({'a': 4})
    with pytest.raises(ValueError, match=r'val_ratio must be in \[0, 1\)') \
            as err:
        RSSceneDataset(root, val_ratio=val_ratio)
    assert f'got {val_ratio!r}' in str(err.value)


def test_val_ratio_not_below_train_ratio(make_scene_root):
    root = make_scene_root({'a': 4})
    with pytest.raises(ValueError, match='val_ratio=0.5 must be smaller '
                       'than train_ratio=0.5'):
        RSSceneDataset(root, train_ratio=0.5, val_ratio=0.5)


def test_val_ratio_leaving_a_class_without_training_image(make_scene_root):
    root = make_scene_root({'a': 2, 'b': 10})
    with pytest.raises(ValueError) as err:
        RSSceneDataset(root, split='train', train_ratio=0.5, val_ratio=0.45)
    assert str(err.value).startswith(
        'val_ratio=0.45 (with train_ratio=0.5) leaves class "a" no training '
        'image: 2 images, 1 in the training share, 1 of them for '
        'validation. Lower val_ratio or raise train_ratio.')


def test_val_split_needs_val_ratio(make_scene_root):
    root = make_scene_root({'a': 4})
    with pytest.raises(ValueError, match=r"split='val' needs val_ratio > 0 "
                       r'.*got val_ratio=0.0'):
        RSSceneDataset(root, split='val')


def test_missing_root_names_path_and_layout(tmp_path):
    missing = str(tmp_path / 'nope')
    with pytest.raises(FileNotFoundError) as err:
        NWPURESISC45(missing)
    assert missing in str(err.value)
    assert '<data_root>/<class_name>/<image files>' in str(err.value)


def test_name_matching_ignores_case_spaces_underscores_hyphens(
        make_scene_root):
    names = list(AID.METAINFO['classes'])
    variants = {}
    for i, c in enumerate(names):
        # BareLand -> bare_land / Bare-Land / BARE LAND ...
        snake = ''.join('_' + ch.lower() if ch.isupper() else ch
                        for ch in c).lstrip('_')
        variants[[snake, snake.replace('_', '-').title(), c.upper(),
                  snake.replace('_', ' ')][i % 4]] = 2
    root = make_scene_root(variants)
    ds = AID(root, split='train', train_ratio=0.5)
    assert ds.metainfo['classes'] == tuple(names)
    assert len(ds) == 30
    # labels follow the official order, not the folder order
    for i in range(len(ds)):
        info = ds.get_data_info(i)
        folder = osp.basename(osp.dirname(info['img_path']))
        assert normalize_class_name(folder) == normalize_class_name(
            names[info['gt_label']])


def test_rsscn7_ships_prefixed_folders(make_scene_root):
    root = make_scene_root({f: 2 for f in RSSCN7.FOLDER_ALIASES})
    ds = RSSCN7(root, split='test')
    assert ds.metainfo['classes'][0] == 'grass'
    assert len(ds) == 7


def test_missing_class_folder(make_scene_root):
    root = make_scene_root({'aircraft': 2, 'oiltank': 2, 'overpass': 2})
    with pytest.raises(ValueError, match=r"class\(es\) \['playground'\]"):
        RSOD(root)


def test_unknown_folder(make_scene_root):
    root = make_scene_root({'aircraft': 2, 'oiltank': 2, 'overpass': 2,
                            'playground': 2, 'boats': 2})
    with pytest.raises(ValueError, match=r"\['boats'\].*match no class"):
        RSOD(root)


def test_empty_class_folder(make_scene_root):
    root = make_scene_root({'aircraft': 2, 'oiltank': 2, 'overpass': 2,
                            'playground': 2})
    for f in os.listdir(osp.join(root, 'oiltank')):
        os.remove(osp.join(root, 'oiltank', f))
    with pytest.raises(ValueError, match=r"\['oiltank'\].*hold no image"):
        RSOD(root)


def test_ucmerced_tif(make_scene_root):
    root = make_scene_root({c: 2 for c in UCMerced.METAINFO['classes']},
                           ext='.tif')
    assert len(UCMerced(root, split='train', train_ratio=0.5)) == 21


def _corrupt_root(make_scene_root):
    root = make_scene_root({'a': 3, 'b': 3})
    bad = osp.join(root, 'a', 'img_001.png')
    with open(bad, 'wb') as f:
        f.write(b'not an image at all')
    return root, bad


def test_corrupt_image_error_names_file(make_scene_root):
    root, bad = _corrupt_root(make_scene_root)
    ds = [RSSceneDataset(root, split=split, train_ratio=0.5,
                         pipeline=[dict(type='LoadImageFromFile')])
          for split in ('train', 'test')]
    ds = ds[0] if bad in _paths(ds[0]) else ds[1]
    idx = _paths(ds).index(bad)
    with pytest.raises(CorruptImageError, match='img_001.png'):
        ds[idx]


def test_corrupt_image_skipped_with_warning(make_scene_root):
    root, bad = _corrupt_root(make_scene_root)
    with pytest.warns(UserWarning, match='skipped 1 image'):
        ds = [RSSceneDataset(root, split=split, train_ratio=0.5,
                             on_corrupt='skip') for split in ('train', 'test')]
    paths = _paths(ds[0]) + _paths(ds[1])
    assert bad not in paths
    assert len(paths) == 5


def test_ann_file_roundtrip_with_make_split(make_scene_root, tmp_path):
    from tools.dataset_converters import make_split
    root = make_scene_root({'a': 9, 'b': 6})
    out = tmp_path / 'splits'
    make_split.main([root, '--train-ratio', '0.5', '--seed', '4',
                     '--out-dir', str(out)])
    for split in ('train', 'test'):
        fly = RSSceneDataset(root, split=split, train_ratio=0.5, split_seed=4)
        listed = RSSceneDataset(root, ann_file=str(out / f'{split}.txt'))
        assert _paths(fly) == _paths(listed)
        assert _labels(fly) == _labels(listed)


def test_make_split_writes_val_and_keeps_test(make_scene_root, tmp_path):
    from tools.dataset_converters import make_split
    root = make_scene_root({'a': 12, 'b': 7})
    plain, with_val = tmp_path / 'plain', tmp_path / 'val'
    make_split.main([root, '--seed', '2', '--out-dir', str(plain)])
    make_split.main([root, '--seed', '2', '--val-ratio', '0.2',
                     '--out-dir', str(with_val)])
    assert not (plain / 'val.txt').exists()
    assert (plain / 'test.txt').read_text() == \
        (with_val / 'test.txt').read_text()
    for split in ('train', 'val', 'test'):
        fly = RSSceneDataset(root, split=split, val_ratio=0.2, split_seed=2)
        listed = RSSceneDataset(root, split=split,
                                ann_file=str(with_val / f'{split}.txt'))
        assert _paths(fly) == _paths(listed) and len(listed) > 0
        assert _labels(fly) == _labels(listed)
    lines = {s: set((with_val / f'{s}.txt').read_text().splitlines())
             for s in ('train', 'val', 'test')}
    assert lines['train'] | lines['val'] == \
        set((plain / 'train.txt').read_text().splitlines())
    assert not lines['train'] & lines['val']


def test_ann_file_bad_line(make_scene_root, tmp_path):
    root = make_scene_root({'a': 2, 'b': 2})
    ann = tmp_path / 'bad.txt'
    ann.write_text('a/img_000.png 0\na/img_001.png zebra\n')
    with pytest.raises(ValueError, match=r"bad.txt, line 2: unknown class"):
        RSSceneDataset(root, ann_file=str(ann))
