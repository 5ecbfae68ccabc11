"""Let configs inherit mmrskd's configs by package scope: ``mmrskd::``.

OpenMMLab downstream projects inherit an installed package's configs with
``_base_ = ['mmdet::_base_/datasets/coco_detection.py']``. mmengine 0.10
resolves such a name in ``Config._get_cfg_path`` only for the packages of
its hard-coded ``MODULE2PACKAGE`` table, requires a folder after ``::`` (so
mmrskd's top-level configs, which sit directly in ``configs/``, could not be
named), locates the package with ``pkg_resources`` (which points at
site-packages, not at the checkout, for a PEP 660 editable install) and tags
every inherited dict with ``_scope_=<package>`` (mmrskd has no registry of
its own: its configs set ``default_scope`` to mmpretrain or mmdet).

:func:`register_config_scope` therefore wraps ``Config._get_cfg_path``: a
name starting with ``mmrskd::`` is resolved here, relative to mmrskd's
``configs/`` folder and without a ``_scope_`` tag, exactly as if the file
had been inherited by its path in the repository; every other name goes to
mmengine unchanged. ``mmrskd::isdm_r34_r18_nwpu.py`` is
``configs/isdm_r34_r18_nwpu.py``, ``mmrskd::_base_/datasets/nwpu_8-2.py``
is ``configs/_base_/datasets/nwpu_8-2.py``.

A name starting with ``mmrotate::`` (the rotated configs inherit
mmrotate's) first checks that mmrotate, an optional extra, is installed:
mmengine's own error would tell to install a package named ``mmrotate``,
not the extra that brings it (:mod:`mmrskd.utils.extras`).

mmengine resolves ``_base_`` before it runs a config's ``custom_imports``,
so ``mmrskd`` must be imported before the config is loaded (mmrskd's
``tools/train.py`` and ``tools/test.py`` do). ``import mmrskd`` imports this
module, which registers the wrapper once.
"""
import functools
import os.path as osp
from typing import Optional, Tuple

from mmengine.config import Config

from .extras import require_mmrotate

SCOPE = 'mmrskd::'
#: the scope of mmrotate's configs (the optional extra ``rotated``)
MMROTATE_SCOPE = 'mmrotate::'

_PACKAGE_DIR = osp.dirname(osp.dirname(osp.abspath(__file__)))


def package_configs_dir() -> str:
    """The folder that holds mmrskd's configs.

    A built wheel carries them inside the package, in ``mmrskd/.mim/configs``
    (where mmdet and mmpretrain keep theirs); a source checkout, and so an
    editable install (``pip install -e .``), reads the repository's own
    ``configs/`` next to the ``mmrskd`` package.
    """
    installed = osp.join(_PACKAGE_DIR, '.mim', 'configs')
    if osp.isdir(installed):
        return installed
    checkout = osp.dirname(_PACKAGE_DIR)
    if osp.isfile(osp.join(checkout, 'setup.py')) and \
            osp.isdir(osp.join(checkout, 'configs')):
        return osp.join(checkout, 'configs')
    raise FileNotFoundError(
        f'mmrskd\'s configs are missing: neither "{installed}" (a wheel '
        f'install) nor "{osp.join(checkout, "configs")}" (a source checkout) '
        'exists. Reinstall mmrskd (`pip install -e <repository>` or its '
        'wheel).')


def resolve_scoped_config(name: str) -> str:
    """The file behind ``mmrskd::<path relative to configs/>``."""
    rel = name[len(SCOPE):]
    root = package_configs_dir()
    path = osp.normpath(osp.join(root, rel))
    if not rel or osp.isabs(rel) or not osp.isfile(path):
        raise FileNotFoundError(
            f'"{name}": mmrskd has no config "{rel}" (looked in "{root}"). '
            'Name it relative to mmrskd\'s configs/ folder, e.g. '
            '"mmrskd::isdm_r34_r18_nwpu.py" or '
            '"mmrskd::_base_/datasets/nwpu_8-2.py".')
    return path


def register_config_scope() -> None:
    """Make ``Config.fromfile`` resolve ``mmrskd::`` names (idempotent)."""
    original = Config._get_cfg_path
    if getattr(original, 'mmrskd_scope', False):
        return

    # mmengine parses all of a package's metafiles (~300 for mmdet, about
    # 1 s) for every `pkg::` base it resolves; the answer depends on the
    # installed package only, so it is kept per name.
    external = functools.lru_cache(maxsize=None)(original)

    def _get_cfg_path(cfg_path: str,
                      filename: str) -> Tuple[str, Optional[str]]:
        if cfg_path.startswith(SCOPE):
            return resolve_scoped_config(cfg_path), None
        if cfg_path.startswith(MMROTATE_SCOPE):
            require_mmrotate(f'"{filename}" inherits "{cfg_path}": it')
        if '::' in cfg_path:
            return external(cfg_path, filename)
        return original(cfg_path, filename)

    _get_cfg_path.mmrskd_scope = True
    _get_cfg_path.__doc__ = original.__doc__
    Config._get_cfg_path = staticmethod(_get_cfg_path)


register_config_scope()
