# Rotated RetinaNet R50-FPN (oriented boxes, le90 angles) on DOTA-v1.0 1024 px patches: the
# teacher. Needs mmrskd's optional extra "rotated" (mmrotate): pip install -e ".[rotated]"
# in the repository, or make env. docs/rotated.md says what runs on a CPU.
#
# mmrotate's own recipe (rotated-retinanet-rbox-le90_r50_fpn_1x_dota.py: anchors, box coder,
# focal loss, L1 box loss, rotated-IoU assigner, rotated NMS, 12 epochs, lr 0.0025 for
# batch 2), with:
# - the backbone from scratch, as mmrskd's detection configs (configs/_base_/det/): nothing
#   is downloaded, no stage is frozen and BatchNorm trains; for ImageNet weights set
#   model.backbone.init_cfg=dict(type='Pretrained', checkpoint=PATH), frozen_stages=1,
#   norm_eval=True as mmrotate does;
# - mmrskd's runtime (configs/_base_/det_runtime.py: the plugin import, the NaN guard,
#   per-epoch reseeding, an unnamed visualizer) in mmrotate's registry scope;
# - the patches of tools/dataset_converters/dota_split.py, read by RotatedDOTADataset
#   (it skips the imagesource:/gsd: header lines that mmrotate's DOTADataset fails on):
#     python tools/dataset_converters/dota_split.py data/DOTA/train data/DOTA_split/train
#     python tools/dataset_converters/dota_split.py data/DOTA/val data/DOTA_split/val
# Every op it trains and tests with has a CPU kernel in mmcv 2.1 (box_iou_rotated in the
# assigner, nms_rotated); a rotated-IoU box loss (RotatedIoULoss, diff_iou_rotated_2d) would
# need a GPU: CPUOpsCheckHook then stops a CPU run before its first iteration.
#
# Evaluation: mmrotate's DOTAMetric, DOTA Task1 (VOC07 11-point AP of the oriented boxes at
# IoU 0.5, difficult objects ignored as the DOTA devkit does) on the val patches (key
# dota/mAP). DOTA's official Task1 number is on the full images: merging the patch
# detections back (shifted by the patch offsets, class-wise rotated NMS of the overlaps) and
# scoring them against the unsplit labelTxt files, as DOTATask2Metric does for horizontal
# boxes; objects cut by a patch border then count once, whole. Not done yet.
_base_ = ['mmrotate::rotated_retinanet/rotated-retinanet-rbox-le90_r50_fpn_1x_dota.py']

# mmrskd's runtime (as configs/_base_/det_runtime.py, which cannot be a second base here:
# mmrotate's config brings its own runtime)
custom_imports = dict(
    imports=['mmrskd', 'mmrskd.datasets.rotated_dota'], allow_failed_imports=False)
default_hooks = dict(
    nan_guard=dict(type='NaNGuardHook', action='stop'),
    epoch_seed=dict(type='EpochSeedHook'))
randomness = dict(seed=0, deterministic=False)
custom_hooks = [dict(type='CPUOpsCheckHook')]
visualizer = dict(
    _delete_=True, type='RotLocalVisualizer',
    vis_backends=[dict(type='LocalVisBackend')])

model = dict(backbone=dict(init_cfg=None, frozen_stages=-1, norm_eval=False))
auto_scale_lr = dict(enable=False, base_batch_size=2)

dataset_type = 'RotatedDOTADataset'
data_root = 'data/DOTA_split/'
train_dataloader = dict(
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='train/labelTxt/',
        data_prefix=dict(img_path='train/images/')))
val_dataloader = dict(
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='val/labelTxt/',
        data_prefix=dict(img_path='val/images/'),
        diff_thr=0))
test_dataloader = val_dataloader
