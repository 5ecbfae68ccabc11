"""Downstream configs inherit mmrskd's configs by package scope
(``_base_ = ['mmrskd::isdm_r34_r18_nwpu.py']``), from the checkout (editable
install) and from a built wheel installed elsewhere."""
import glob
import json
import os
import os.path as osp
import runpy
import shutil
import subprocess
import sys
import tarfile
import zipfile

import pytest
from mmengine.config import Config

import mmrskd  # noqa: F401  (registers the `mmrskd::` scope)
from mmrskd.utils.config_scope import package_configs_dir

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))

# A downstream project's configs, as the README shows them.
DOWNSTREAM_ISDM = """
_base_ = ['mmrskd::isdm_r34_r18_nwpu.py']
train_cfg = dict(max_epochs=3)
model = dict(distill_losses=dict(loss_isdm=dict(kd_weight=2.0)))
"""
DOWNSTREAM_DATASET = """
_base_ = ['mmrskd::_base_/datasets/nwpu_8-2.py']
data_root = 'my_data/NWPU-RESISC45'
train_dataloader = dict(dataset=dict(data_root=data_root))
"""
# Prints what the tests check, from a process of its own.
SUMMARY = """
import json, os.path as osp, sys
from mmengine.config import Config
isdm = Config.fromfile(sys.argv[1])
data = Config.fromfile(sys.argv[2])
import mmrskd
print(json.dumps(dict(
    mmrskd_file=mmrskd.__file__, type=isdm.model.type,
    kd_weight=isdm.model.distill_losses.loss_isdm.kd_weight,
    temperature=isdm.model.distill_losses.loss_isdm.temperature,
    max_epochs=isdm.train_cfg.max_epochs,
    val_interval=isdm.train_cfg.val_interval,
    num_classes=isdm.model.student.head.num_classes,
    teacher_cfg=isdm.model.teacher_cfg,
    teacher_exists=osp.isfile(isdm.model.teacher_cfg),
    data_type=data.train_dataloader.dataset.type,
    data_root=data.train_dataloader.dataset.data_root,
    pipeline=len(data.train_dataloader.dataset.pipeline))))
"""
# The README's way to run a tool that does not import mmrskd itself.
RUN_WITH_MMRSKD = ("import mmrskd, runpy, sys; sys.argv.pop(0); "
                   "runpy.run_path(sys.argv[0], run_name='__main__')")


@pytest.fixture
def downstream(tmp_path):
    """A downstream project folder with the two configs and a tool."""
    proj = tmp_path / 'my_project'
    proj.mkdir()
    (proj / 'my_isdm.py').write_text(DOWNSTREAM_ISDM)
    (proj / 'my_data.py').write_text(DOWNSTREAM_DATASET)
    (proj / 'summary.py').write_text(SUMMARY)
    return proj


def _check_summary(out: dict, configs_dir: str) -> None:
    assert out['type'] == 'ClsDistiller'
    assert out['kd_weight'] == 2.0 and out['temperature'] == 4.0
    assert out['max_epochs'] == 3 and out['val_interval'] == 5
    assert out['num_classes'] == 45
    assert out['teacher_cfg'] == osp.join(configs_dir, 'resnet34_nwpu.py')
    assert out['teacher_exists']
    assert out['data_type'] == 'NWPURESISC45'
    assert out['data_root'] == 'my_data/NWPU-RESISC45'
    assert out['pipeline'] > 0


def _run(args, cwd, pythonpath):
    env = dict(os.environ, PYTHONPATH=pythonpath)
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def test_scope_resolves_to_the_checkout_configs(downstream, monkeypatch,
                                               capsys):
    # Editable install / source checkout: the repository's own configs/.
    assert package_configs_dir() == osp.join(ROOT, 'configs')
    monkeypatch.chdir(downstream)
    monkeypatch.setattr(sys, 'argv', ['summary.py', 'my_isdm.py',
                                      'my_data.py'])
    runpy.run_path(str(downstream / 'summary.py'), run_name='__main__')
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out['mmrskd_file'] == osp.join(ROOT, 'mmrskd', '__init__.py')
    _check_summary(out, osp.join(ROOT, 'configs'))


def test_scope_gives_the_same_config_as_the_path(tmp_path):
    """No `_scope_` tag or other difference: inheriting by scope is loading
    the file itself (top-level config, sub-folder config and `_base_`
    file)."""
    for name in ('isdm_r34_r18_nwpu.py', 'dynkd_retinanet_r50_r18_dota.py',
                 'rsscn7_cpu/kd_r34_r18w8_rsscn7_cpu.py',
                 '_base_/datasets/nwpu_vhr10_det.py'):
        child = tmp_path / (osp.basename(name) + '.child.py')
        child.write_text(f"_base_ = ['mmrskd::{name}']\n")
        scoped = Config.fromfile(str(child)).to_dict()
        direct = Config.fromfile(osp.join(ROOT, 'configs', name)).to_dict()
        assert scoped == direct, name
        # mmdet's own `mmdet::` bases keep their tags; mmrskd adds none.
        assert '"_scope_": "mmrskd"' not in json.dumps(scoped, default=str)
        if 'dynkd' in name:
            assert '"_scope_": "mmdet"' in json.dumps(scoped, default=str)


@pytest.mark.parametrize('name', ['nope.py', '', '_base_/nope.py'])
def test_unknown_scoped_config_is_named(tmp_path, name):
    child = tmp_path / 'child.py'
    child.write_text(f"_base_ = ['mmrskd::{name}']\n")
    with pytest.raises(FileNotFoundError) as exc:
        Config.fromfile(str(child))
    assert str(exc.value) == (
        f'"mmrskd::{name}": mmrskd has no config "{name}" (looked in '
        f'"{osp.join(ROOT, "configs")}"). Name it relative to mmrskd\'s '
        'configs/ folder, e.g. "mmrskd::isdm_r34_r18_nwpu.py" or '
        '"mmrskd::_base_/datasets/nwpu_8-2.py".')


def test_missing_package_configs_are_named(tmp_path, monkeypatch):
    from mmrskd.utils import config_scope
    pkg = tmp_path / 'site' / 'mmrskd'
    pkg.mkdir(parents=True)
    monkeypatch.setattr(config_scope, '_PACKAGE_DIR', str(pkg))
    with pytest.raises(FileNotFoundError) as exc:
        config_scope.resolve_scoped_config('mmrskd::isdm_r34_r18_nwpu.py')
    assert str(exc.value) == (
        f'mmrskd\'s configs are missing: neither "{pkg}/.mim/configs" (a '
        f'wheel install) nor "{tmp_path}/site/configs" (a source checkout) '
        'exists. Reinstall mmrskd (`pip install -e <repository>` or its '
        'wheel).')


def test_tool_without_mmrskd_fails_as_the_readme_says(downstream):
    """A tool that does not import mmrskd (mmpretrain's, mmdet's) fails in
    mmengine before `custom_imports` runs, with the errors the README
    quotes next to its one-liner."""
    readme = open(osp.join(ROOT, 'README.md')).read()
    assert f'python -c "{RUN_WITH_MMRSKD}"' in readme
    args = [str(downstream / 'summary.py'), 'my_isdm.py', 'my_data.py']
    plain = _run(args, downstream, ROOT)
    assert plain.returncode != 0  # a top-level config: no folder after ::
    assert ('ValueError: `_get_package_and_cfg_path` is used for get '
            'external package') in plain.stderr
    plain = _run(args[:1] + ['my_data.py', 'my_data.py'], downstream, ROOT)
    assert plain.returncode != 0  # a _base_ file: mmrskd is not in the table
    assert ('AssertionError: mmengine does not support to load mmrskd '
            'config.') in plain.stderr
    # The one-liner itself runs in the wheel test below.


def _copy_sources(dst: str) -> None:
    """What an sdist is made from, without build artefacts of the tree."""
    ignore = shutil.ignore_patterns('__pycache__', '*.pyc', '*.egg-info')
    for name in ('setup.py', 'MANIFEST.in', 'README.md'):
        shutil.copy(osp.join(ROOT, name), dst)
    for name in ('requirements', 'mmrskd', 'configs'):
        shutil.copytree(osp.join(ROOT, name), osp.join(dst, name),
                        ignore=ignore)


def _build_wheel(tmp_path) -> str:
    """sdist of a copy of the sources, then a wheel from the sdist alone."""
    src, dist, wheels = (str(tmp_path / n) for n in ('src', 'dist', 'whl'))
    os.makedirs(src)
    _copy_sources(src)
    proc = _run(['setup.py', '-q', 'sdist', '-d', dist], src, '')
    assert proc.returncode == 0, proc.stderr[-3000:]
    (sdist, ) = glob.glob(osp.join(dist, 'mmrskd-*.tar.gz'))
    with tarfile.open(sdist) as tar:
        tar.extractall(str(tmp_path / 'unpacked'), filter='data')
    (unpacked, ) = glob.glob(str(tmp_path / 'unpacked' / 'mmrskd-*'))
    proc = _run(['-m', 'pip', 'wheel', '-q', '--no-deps', '--no-index',
                 '--no-build-isolation', '-w', wheels, unpacked],
                str(tmp_path), '')
    assert proc.returncode == 0, proc.stderr[-3000:]
    (wheel, ) = glob.glob(osp.join(wheels, 'mmrskd-*.whl'))
    return wheel


def test_wheel_carries_the_configs_and_resolves_the_scope(tmp_path,
                                                         downstream):
    wheel = _build_wheel(tmp_path)
    repo_configs = sorted(
        osp.relpath(p, osp.join(ROOT, 'configs')) for p in glob.glob(
            osp.join(ROOT, 'configs', '**', '*.py'), recursive=True))
    prefix = 'mmrskd/.mim/configs/'
    with zipfile.ZipFile(wheel) as zf:
        in_wheel = sorted(n[len(prefix):] for n in zf.namelist()
                          if n.startswith(prefix))
    assert in_wheel == repo_configs
    assert 'isdm_r34_r18_nwpu.py' in in_wheel
    assert '_base_/datasets/nwpu_8-2.py' in in_wheel

    site = str(tmp_path / 'site')
    proc = _run(['-m', 'pip', 'install', '-q', '--no-deps', '--no-index',
                 '--target', site, wheel], str(tmp_path), '')
    assert proc.returncode == 0, proc.stderr[-3000:]
    # An unrelated folder and only the wheel on the path: not the checkout.
    proc = _run(['-c', RUN_WITH_MMRSKD, str(downstream / 'summary.py'),
                 'my_isdm.py', 'my_data.py'], downstream, site)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    installed = osp.join(site, 'mmrskd')
    assert out['mmrskd_file'] == osp.join(installed, '__init__.py')
    _check_summary(out, osp.join(installed, '.mim', 'configs'))
