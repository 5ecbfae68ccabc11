# What every oriented-box config in configs/rotated/ sets over the mmrotate recipe it
# inherits: mmrskd's runtime (as configs/_base_/det_runtime.py: the plugin import, the NaN
# guard, per-epoch reseeding, an unnamed visualizer) in mmrotate's registry scope, the stop
# before a CPU run of an op without a CPU kernel (CPUOpsCheckHook), backbones from scratch,
# and the DOTA-v1.0 1024 px patches of tools/dataset_converters/dota_split.py read by
# RotatedDOTADataset (it skips the imagesource:/gsd: header lines that mmrotate's
# DOTADataset fails on).
#
# How a config applies it: mmrotate's configs bring their own runtime and data, and mmengine
# refuses a key that two sibling bases both set ("Duplicate key is not allowed among bases"),
# so these settings cannot be top-level keys of a file listed next to mmrotate's recipe. They
# are the one key `mmrskd_rotated`, which the config merges over the recipe as if it had
# written them itself (`_delete_` honoured), taking the key out of the merged config:
#     _base_ = ['mmrotate::<recipe>.py', '../_base_/rotated/mmrskd_dota.py']
#     globals().update(_base_.pop('mmrskd_rotated'))
# That line binds each key as a top-level assignment would, so a key the same file assigns
# after it (model = dict(...)) replaces the shared one instead of merging into it: change
# such keys in a config that inherits the file (as the R18 students do).
#
# Backbones from scratch, as mmrskd's detection configs (configs/_base_/det/): nothing is
# downloaded, no stage is frozen and BatchNorm trains; for ImageNet weights set
# model.backbone.init_cfg=dict(type='Pretrained', checkpoint=PATH), frozen_stages=1,
# norm_eval=True as mmrotate does. The patches:
#     python tools/dataset_converters/dota_split.py data/DOTA/train data/DOTA_split/train
#     python tools/dataset_converters/dota_split.py data/DOTA/val data/DOTA_split/val
#
# Evaluation: validation while training with mmrotate's DOTAMetric on the val patches (key
# patch_dota/mAP); tools/test.py: the official DOTA Task1 mAP (dota/mAP) on the full val
# images, DOTATask1Metric (the patch predictions merged back and scored against the unsplit
# labelTxt files in ann_dir, docs/rotated.md), the patch-level number as a secondary one.
mmrskd_rotated = dict(
    custom_imports=dict(
        imports=['mmrskd', 'mmrskd.datasets.rotated_dota'],
        allow_failed_imports=False),
    default_hooks=dict(
        nan_guard=dict(type='NaNGuardHook', action='stop'),
        epoch_seed=dict(type='EpochSeedHook')),
    randomness=dict(seed=0, deterministic=False),
    custom_hooks=[dict(type='CPUOpsCheckHook')],
    visualizer=dict(
        _delete_=True, type='RotLocalVisualizer',
        vis_backends=[dict(type='LocalVisBackend')]),
    model=dict(backbone=dict(init_cfg=None, frozen_stages=-1, norm_eval=False)),
    # mmrotate's learning rates are for batch 2 (2 images on 1 GPU)
    auto_scale_lr=dict(enable=False, base_batch_size=2),
    dataset_type='RotatedDOTADataset',
    data_root='data/DOTA_split/',
    train_dataloader=dict(
        dataset=dict(
            type='RotatedDOTADataset',
            data_root='data/DOTA_split/',
            ann_file='train/labelTxt/',
            data_prefix=dict(img_path='train/images/'))),
    val_dataloader=dict(
        dataset=dict(
            type='RotatedDOTADataset',
            data_root='data/DOTA_split/',
            ann_file='val/labelTxt/',
            data_prefix=dict(img_path='val/images/'),
            diff_thr=0)),
    val_evaluator=dict(type='DOTAMetric', metric='mAP', prefix='patch_dota'),
    test_evaluator=[
        dict(type='mmdet.DOTATask1Metric', ann_dir='data/DOTA/val/labelTxt/'),
        dict(type='DOTAMetric', metric='mAP', prefix='patch_dota'),
    ])
mmrskd_rotated['test_dataloader'] = mmrskd_rotated['val_dataloader']
