"""``--cfg-options`` of tools/train.py and tools/test.py keeps the spaces of
a quoted value (NWPU VHR-10's folder is ``NWPU VHR-10 dataset``) and parses
everything else as mmengine's ``DictAction`` does; a dataset path that lost
its spaces is explained by the not-found error."""
import math
import os
import os.path as osp

import pytest
from mmengine.config import DictAction

import mmrskd  # noqa: F401
from mmrskd.apis import cli
from mmrskd.apis.options import KeepSpacesDictAction
from mmrskd.datasets import NWPUVHR10Dataset
from mmrskd.utils.path_hint import SPACES_HINT, stripped_spaces_hint
from tools import test as test_tool
from tools import train as train_tool

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
DET_CONFIG = osp.join(ROOT, 'configs', 'retinanet_r18_fpn_nwpu-vhr10.py')

# Values without spaces: mmrskd's parser must give what mmengine's gives.
NO_SPACES = [
    '1', '-3', '1.5', '1e-3', 'nan', 'inf', '0x10', 'True', 'false', 'None',
    'abc', 'data/NWPU-RESISC45/', 'x=y', "'a'", '"[a,b]"', 'a,b', '1,2,3',
    '1,2,', ',1', '1,,2', '[]', '()', '[,]', '[1,2]', '(1,2)', '(1,)',
    "['a','b']", '[(1,2),(3,4)]', '[[1,[2,(3,)]],x]', '(1,[2,3],"c")',
    '[True,None,0.5]',
]


def _same(a, b) -> bool:
    """Equal values of equal types, nested (nan equals nan)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(map(_same, a, b))
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    return a == b


@pytest.mark.parametrize('value', NO_SPACES)
def test_parity_with_mmengine_without_spaces(value):
    ours = KeepSpacesDictAction._parse_iterable(value)
    theirs = DictAction._parse_iterable(value)
    assert _same(ours, theirs), (value, ours, theirs)


@pytest.mark.parametrize('value, expected, mmengine', [
    ('data/NWPU VHR-10 dataset/', 'data/NWPU VHR-10 dataset/',
     'data/NWPUVHR-10dataset/'),
    ('[1, 2, 3]', [1, 2, 3], [1, 2, 3]),
    (' ( a , b ) ', ('a', 'b'), ('a', 'b')),
    ('[a b, c d]', ['a b', 'c d'], ['ab', 'cd']),
    ("'positive image set'", 'positive image set', 'positiveimageset'),
    ('[(1, 2), (3, 4)]', [(1, 2), (3, 4)], [(1, 2), (3, 4)]),
])
def test_spaces_inside_values_are_kept(value, expected, mmengine):
    assert _same(KeepSpacesDictAction._parse_iterable(value), expected)
    assert _same(DictAction._parse_iterable(value), mmengine)


def test_train_tool_keeps_a_quoted_path_with_spaces(tmp_path):
    root = str(tmp_path / 'NWPU VHR-10 dataset') + '/'
    args = train_tool.parse_args([
        DET_CONFIG, '--work-dir', str(tmp_path / 'w'), '--cfg-options',
        f'train_dataloader.dataset.data_root={root}',
        'train_cfg.max_epochs=3', 'model.backbone.out_indices=(1, 2, 3)'])
    cfg = train_tool.merge_args(cli.load_config(args.config,
                                                args.cfg_options), args)
    assert cfg.train_dataloader.dataset.data_root == root
    assert cfg.train_cfg.max_epochs == 3
    assert cfg.model.backbone.out_indices == (1, 2, 3)


def test_test_tool_keeps_a_quoted_path_with_spaces(tmp_path):
    root = str(tmp_path / 'NWPU VHR-10 dataset') + '/'
    args = test_tool.parse_args([
        DET_CONFIG, 'ckpt.pth', '--cfg-options',
        f'test_dataloader.dataset.data_root={root}'])
    cfg = cli.load_config(args.config, args.cfg_options)
    assert cfg.test_dataloader.dataset.data_root == root


@pytest.mark.parametrize('tool', [train_tool, test_tool])
def test_unquoted_value_with_spaces_is_refused(tool, capsys):
    positional = ['c.py'] if tool is train_tool else ['c.py', 'ck.pth']
    with pytest.raises(SystemExit) as exc:
        tool.parse_args(positional + [
            '--cfg-options', 'train_dataloader.dataset.data_root=data/NWPU',
            'VHR-10', 'dataset/'])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert ('--cfg-options: "VHR-10" is not KEY=VALUE. A value with spaces '
            'must be quoted as one shell word, e.g. --cfg-options '
            '"train_dataloader.dataset.data_root=data/NWPU VHR-10 dataset/".'
            ) in err


def _nwpu_error(data_root: str) -> str:
    with pytest.raises(FileNotFoundError) as exc:
        NWPUVHR10Dataset(data_root=data_root, split='train')
    return str(exc.value)


def test_nwpu_error_names_the_sibling_with_spaces(tmp_path):
    os.makedirs(tmp_path / 'NWPU VHR-10 dataset' / 'ground truth')
    msg = _nwpu_error(str(tmp_path / 'NWPUVHR-10dataset') + '/')
    assert msg.startswith('NWPU VHR-10 ground-truth folder "')
    assert (f'"{tmp_path}/NWPUVHR-10dataset" does not exist but '
            f'"{tmp_path}/NWPU VHR-10 dataset" does: the spaces were '
            'probably removed. ' + SPACES_HINT) in msg
    assert msg.endswith(SPACES_HINT)


def test_nwpu_error_recognises_the_official_name_without_spaces(tmp_path):
    # Nothing on disk: the stripped official folder name alone is the sign.
    msg = _nwpu_error(str(tmp_path / 'data' / 'NWPUVHR-10dataset'))
    assert ('"NWPUVHR-10dataset" looks like "NWPU VHR-10 dataset" without '
            'its spaces. ' + SPACES_HINT) in msg
    # A stripped ann_file ("groundtruth/") under an existing root.
    os.makedirs(tmp_path / 'nwpu')
    with pytest.raises(FileNotFoundError) as exc:
        NWPUVHR10Dataset(data_root=str(tmp_path / 'nwpu'),
                         ann_file='groundtruth/', split='train')
    assert '"groundtruth" looks like "ground truth"' in str(exc.value)


def test_nwpu_error_has_no_hint_for_an_ordinary_missing_root(tmp_path):
    msg = _nwpu_error(str(tmp_path / 'nwpu_vhr10'))
    assert 'spaces' not in msg
    assert msg.endswith('data_root/"positive image set"/).')


def test_hint_is_empty_for_existing_paths(tmp_path):
    (tmp_path / 'a b').mkdir()
    assert stripped_spaces_hint(str(tmp_path / 'a b')) == ''
    assert stripped_spaces_hint(str(tmp_path / 'ab')).startswith(
        f' "{tmp_path}/ab" does not exist but "{tmp_path}/a b" does')
