# FCOS R50-FPN (anchor-free) with a pytorch-style ResNet (mmdet's FCOS
# configs use a caffe-style backbone with Detectron weights). The model dict
# only, as mmdet's _base_/models files (mmdet has none for FCOS);
# _base_/det/fcos_r50_fpn_1x.py adds the schedule and runtime.
model = dict(
    type='FCOS',
    data_preprocessor=dict(
        type='DetDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True,
        pad_size_divisor=32),
    backbone=dict(
        type='ResNet', depth=50, num_stages=4, out_indices=(0, 1, 2, 3),
        frozen_stages=1, norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=True, style='pytorch', init_cfg=None),
    neck=dict(
        type='FPN', in_channels=[256, 512, 1024, 2048], out_channels=256,
        start_level=1, add_extra_convs='on_output', num_outs=5,
        relu_before_extra_convs=True),
    bbox_head=dict(
        type='FCOSHead', num_classes=80, in_channels=256, stacked_convs=4,
        feat_channels=256, strides=[8, 16, 32, 64, 128],
        norm_cfg=dict(type='GN', num_groups=32, requires_grad=True),
        loss_cls=dict(type='FocalLoss', use_sigmoid=True, gamma=2.0,
                      alpha=0.25, loss_weight=1.0),
        loss_bbox=dict(type='IoULoss', loss_weight=1.0),
        loss_centerness=dict(type='CrossEntropyLoss', use_sigmoid=True,
                             loss_weight=1.0)),
    test_cfg=dict(nms_pre=1000, min_bbox_size=0, score_thr=0.05,
                  nms=dict(type='nms', iou_threshold=0.5), max_per_img=100))
