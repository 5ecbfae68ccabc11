# mmdet's runtime (default_scope 'mmdet', hooks, visualizer) plus mmrskd:
# the plugin import, the NaN guard and per-epoch reseeding for exact resume.
_base_ = ['mmdet::_base_/default_runtime.py']

custom_imports = dict(imports=['mmrskd'], allow_failed_imports=False)
default_hooks = dict(
    nan_guard=dict(type='NaNGuardHook', action='stop'),
    epoch_seed=dict(type='EpochSeedHook'))
randomness = dict(seed=0, deterministic=False)
# mmdet names its visualizer 'visualizer'; a second detection Runner in one
# process (a benchmark, a notebook) would then reuse the first one's and
# write into its work dir. Unnamed, each Runner names it after its run.
visualizer = dict(
    _delete_=True, type='DetLocalVisualizer',
    vis_backends=[dict(type='LocalVisBackend')])
