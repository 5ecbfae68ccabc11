"""mmrskd version and the supported OpenMMLab stack."""
from importlib import metadata

__version__ = '0.1.0'

#: package -> (lowest supported version, first unsupported version).
#: The pins of the tested stack live in requirements/runtime.txt.
SUPPORTED = {
    'torch': ('2.0.0', '2.15.0'),
    'mmengine': ('0.10.0', '0.11.0'),
    'mmcv': ('2.0.0', '2.2.0'),
    'mmpretrain': ('1.2.0', '1.3.0'),
    'mmdet': ('3.3.0', '3.4.0'),
}


def _parse(version: str):
    parts = []
    for piece in version.split('+')[0].split('.')[:3]:
        digits = ''.join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts + [0] * (3 - len(parts)))


def check_versions(installed=None) -> None:
    """Raise ImportError naming every installed package outside its range.

    Args:
        installed: package -> version; read from the environment when None.
    """
    problems = []
    for pkg, (low, high) in SUPPORTED.items():
        if installed is not None:
            version = installed.get(pkg)
        else:
            try:
                version = metadata.version(pkg)
            except metadata.PackageNotFoundError:
                version = None
        if version is None:
            problems.append(f'{pkg} is not installed (need >={low},<{high})')
        elif not _parse(low) <= _parse(version) < _parse(high):
            problems.append(f'{pkg}=={version} is installed, mmrskd '
                            f'{__version__} needs >={low},<{high}')
    if problems:
        raise ImportError(
            'mmrskd: unsupported OpenMMLab stack: ' + '; '.join(problems) +
            '. Run `make env` (or tools/setup_env.sh) to install the tested '
            'versions from requirements/runtime.txt.')
