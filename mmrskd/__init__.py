"""mmrskd: knowledge distillation for remote-sensing imagery (OpenMMLab 2.x).

Importing the package checks the installed stack, makes mmengine's own
checkpoints loadable under torch's ``weights_only`` default (so ``--resume``
works) and registers every dataset, model, loss and metric into mmpretrain's
and mmdet's registries. Configs load it with
``custom_imports = dict(imports=['mmrskd'], allow_failed_imports=False)``.
"""
import os

from .version import __version__, check_versions

if not os.environ.get('MMRSKD_SKIP_VERSION_CHECK'):
    check_versions()

from .utils import allow_mmengine_checkpoints  # noqa: E402

allow_mmengine_checkpoints()

from .utils import config_scope  # noqa: E402,F401  (`mmrskd::` in _base_)

from . import datasets, engine, evaluation, models  # noqa: E402,F401

__all__ = ['__version__', 'check_versions']
