import pytest

import mmrskd
from mmrskd.version import SUPPORTED, check_versions


def test_version_string():
    assert mmrskd.__version__.count('.') == 2


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
