# Runtime shared by every mmrskd classification config.
# Loads the plugin so any downstream project can inherit a config with
# `_base_` and nothing else.
custom_imports = dict(imports=['mmrskd'], allow_failed_imports=False)
default_scope = 'mmpretrain'

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50),
    param_scheduler=dict(type='ParamSchedulerHook'),
    # Keep the last checkpoints (for --resume); the final epoch is the
    # result, as the papers report. No "best" checkpoint: the scene configs
    # validate on the test split (for monitoring only), and a checkpoint
    # picked on it would be tuned on the test images. To select one, carve
    # a validation split out of the training share and select on it
    # (README, "Model selection"):
    #   --cfg-options train_dataloader.dataset.val_ratio=0.1 \
    #       val_dataloader.dataset.val_ratio=0.1 \
    #       val_dataloader.dataset.split=val \
    #       default_hooks.checkpoint.save_best=accuracy/top1 \
    #       default_hooks.checkpoint.rule=greater
    checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=3),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='VisualizationHook', enable=False),
    # stop with a clear error on a NaN/inf loss (action='skip' skips it)
    nan_guard=dict(type='NaNGuardHook', action='stop'),
    # reseed per epoch so that --resume reproduces the uninterrupted run
    epoch_seed=dict(type='EpochSeedHook'),
    # refuse a split='val' validation set the training set does not exclude
    split_check=dict(type='SplitCheckHook'),
)

env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    # tools/train.py switches to gloo when no GPU is present.
    dist_cfg=dict(backend='nccl'),
)

vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(type='UniversalVisualizer', vis_backends=vis_backends)

log_level = 'INFO'
load_from = None
resume = False
randomness = dict(seed=0, deterministic=False)
