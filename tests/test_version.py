import os.path as osp
import subprocess
import sys

import pytest
from packaging.version import Version

import mmrskd
from mmrskd.version import SUPPORTED, check_versions

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def test_version_is_the_one_setup_py_packages():
    """``setup.py --version`` (the version a wheel gets, read by setup.py
    from mmrskd/version.py) is the imported package's."""
    proc = subprocess.run([sys.executable, 'setup.py', '--version'],
                          cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().splitlines()[-1] == mmrskd.__version__


def test_version_follows_pep_440():
    # Version() raises InvalidVersion otherwise; str() is the normal form
    version = Version(mmrskd.__version__)
    assert str(version) == mmrskd.__version__
    assert len(version.release) == 3  # MAJOR.MINOR.PATCH


def test_installed_stack_is_supported():
    check_versions()  # the environment built by `make env`


def test_unsupported_version_is_named():
    installed = {pkg: low for pkg, (low, _) in SUPPORTED.items()}
    installed['mmcv'] = '2.2.0'
    with pytest.raises(ImportError, match=r'mmcv==2\.2\.0 is installed'):
        check_versions(installed)
    installed.pop('mmdet')
    with pytest.raises(ImportError, match='mmdet is not installed'):
        check_versions(installed)
