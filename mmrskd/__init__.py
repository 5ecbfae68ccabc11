"""mmrskd: knowledge distillation for remote-sensing imagery (OpenMMLab 2.x).

Importing the package checks the installed stack, makes mmengine's own
checkpoints loadable under torch's ``weights_only`` default (so ``--resume``
works), lets mmrotate (the optional extra ``rotated``) import on mmdet 3.3
(:func:`mmrskd.compat.alias_faster_coco_metric`) and registers every
dataset, model, loss and metric into mmpretrain's and mmdet's registries
(and mmrotate's, when the extra is installed). Configs load it with
``custom_imports = dict(imports=['mmrskd'], allow_failed_imports=False)``.
"""
import os

from .version import __version__, check_versions

if not os.environ.get('MMRSKD_SKIP_VERSION_CHECK'):
    check_versions()

from .utils import allow_mmengine_checkpoints  # noqa: E402

allow_mmengine_checkpoints()

from .utils import config_scope  # noqa: E402,F401  (`mmrskd::` in _base_)
from .compat import alias_faster_coco_metric  # noqa: E402

alias_faster_coco_metric()  # before anything imports mmrotate (see compat)

from . import datasets, engine, evaluation, models  # noqa: E402,F401

__all__ = ['__version__', 'check_versions']
