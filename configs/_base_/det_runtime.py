# mmdet's runtime (default_scope 'mmdet', hooks, visualizer) plus mmrskd:
# the plugin import, the NaN guard and per-epoch reseeding for exact resume.
_base_ = ['mmdet::_base_/default_runtime.py']

custom_imports = dict(imports=['mmrskd'], allow_failed_imports=False)
default_hooks = dict(
    nan_guard=dict(type='NaNGuardHook', action='stop'),
    epoch_seed=dict(type='EpochSeedHook'))
randomness = dict(seed=0, deterministic=False)
