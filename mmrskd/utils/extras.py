"""mmrskd's optional extras, and the error that names the command
installing a missing one.

``rotated`` (``requirements/rotated.txt``): oriented boxes (DOTA Task1)
with mmrotate, from the maintained fork onedl-mmrotate. ``make env``
installs it; in an environment of one's own, ``pip install -e ".[rotated]"``
in the repository does.
"""
import importlib

#: the command that installs the extra ``rotated``
ROTATED_INSTALL = 'pip install -e ".[rotated]"'
#: what a rotated config or test says when mmrotate is not installed
ROTATED_MISSING = (
    'needs mmrotate (oriented boxes), which is not installed. It comes '
    'with mmrskd\'s optional extra "rotated": run '
    f'`{ROTATED_INSTALL}` in the mmrskd repository (or `make env`).')


class MissingExtraError(ModuleNotFoundError):
    """A package of one of mmrskd's optional extras is not installed."""


def mmrotate_installed() -> bool:
    """True when ``import mmrotate`` works (the extra ``rotated``)."""
    try:
        importlib.import_module('mmrotate')
    except ImportError:
        return False
    return True


def require_mmrotate(what: str = 'This') -> None:
    """MissingExtraError naming the install command unless mmrotate
    imports; ``what`` names what needs it (a config file, a module)."""
    if not mmrotate_installed():
        raise MissingExtraError(f'{what} {ROTATED_MISSING}', name='mmrotate')
