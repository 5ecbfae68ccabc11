import os.path as osp

from setuptools import find_packages, setup


def read_requirements(name):
    with open(osp.join(osp.dirname(__file__), 'requirements', name)) as f:
        return [ln.strip() for ln in f
                if ln.strip() and not ln.startswith('#')]


def read_version():
    ns = {}
    with open(osp.join(osp.dirname(__file__), 'mmrskd', 'version.py')) as f:
        exec(compile(f.read(), 'version.py', 'exec'), ns)
    return ns['__version__']


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
    extras_require=dict(tests=read_requirements('tests.txt')),
    license='Apache-2.0',
)
