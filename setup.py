import glob
import os.path as osp

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py


def read_requirements(name):
    with open(osp.join(osp.dirname(__file__), 'requirements', name)) as f:
        return [ln.strip() for ln in f
                if ln.strip() and not ln.startswith('#')]


def read_version():
    ns = {}
    with open(osp.join(osp.dirname(__file__), 'mmrskd', 'version.py')) as f:
        exec(compile(f.read(), 'version.py', 'exec'), ns)
    return ns['__version__']


class BuildPyWithConfigs(build_py):
    """Also copy ``configs/`` into the built package as
    ``mmrskd/.mim/configs``, where mmdet and mmpretrain keep theirs, so a
    wheel carries every config and ``_base_ = ['mmrskd::...']`` resolves
    after ``pip install``. The copy goes to the build directory only, never
    into the source tree; an editable install reads ``configs/`` of the
    checkout (see ``mmrskd/utils/config_scope.py``)."""

    def config_files(self) -> list:
        """(source, destination) of every config file."""
        here = osp.dirname(osp.abspath(__file__))
        sources = sorted(glob.glob(
            osp.join(here, 'configs', '**', '*.py'), recursive=True))
        dst_root = osp.join(self.build_lib, 'mmrskd', '.mim', 'configs')
        return [(src, osp.join(dst_root, osp.relpath(
            src, osp.join(here, 'configs')))) for src in sources]

    def run(self) -> None:
        super().run()
        if self.editable_mode:
            return
        for src, dst in self.config_files():
            self.mkpath(osp.dirname(dst))
            self.copy_file(src, dst, preserve_mode=False)

    def get_outputs(self, include_bytecode=1) -> list:
        outputs = super().get_outputs(include_bytecode)
        if self.editable_mode:
            return outputs
        return outputs + [dst for _, dst in self.config_files()]


setup(
    name='mmrskd',
    version=read_version(),
    description='Knowledge distillation for remote-sensing imagery, '
    'an OpenMMLab 2.x plugin (mmpretrain + mmdet)',
    long_description=open('README.md').read() if osp.exists('README.md') else '',
    long_description_content_type='text/markdown',
    packages=find_packages(include=['mmrskd', 'mmrskd.*']),
    python_requires='>=3.8',
    # mmcv 2.1.0 must be compiled on torch 2.14: use `make env`.
    install_requires=read_requirements('runtime.txt'),
    # `pip install -e ".[rotated]"`: oriented boxes (configs/rotated/, mmrotate)
    extras_require=dict(tests=read_requirements('tests.txt'),
                        rotated=read_requirements('rotated.txt')),
    license='Apache-2.0',
    cmdclass=dict(build_py=BuildPyWithConfigs),
)
