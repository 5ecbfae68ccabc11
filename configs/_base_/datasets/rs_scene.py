# Common pipeline and loaders of the folder-per-class scene datasets.
# Dataset files inherit this and set the dataset type, data_root and split.
#
# Validation during training runs on the TEST split, for monitoring only
# (the curves the papers show): no checkpoint is selected on it and the
# result is the final epoch (default_runtime.py). val_ratio > 0 carves a
# stratified validation split out of the training share (split='val'; the
# test split stays the same images) to select checkpoints on: the
# --cfg-options line is in default_runtime.py and the README.
dataset_type = 'RSSceneDataset'
data_preprocessor = dict(
    # ImageNet statistics, RGB.
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True,
)

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(256, 256)),
    dict(type='RandomCrop', crop_size=224),
    # Overhead imagery has no canonical up direction: flip both ways.
    dict(type='RandomFlip', prob=[0.25, 0.25],
         direction=['horizontal', 'vertical']),
    dict(type='PackInputs'),
]

# The training scale: the same 256 px resize, then the central 224 px
# (objects have the size they had in the random training crops).
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(256, 256)),
    dict(type='CenterCrop', crop_size=224),
    dict(type='PackInputs'),
]

train_dataloader = dict(
    batch_size=64,
    num_workers=2,
    dataset=dict(
        type=dataset_type,
        data_root='data/scenes',
        split='train',
        train_ratio=0.8,
        # > 0 moves this share of each class to split='val' (see above)
        val_ratio=0.0,
        split_seed=0,
        pipeline=train_pipeline),
    # ReplaySampler: DefaultSampler's order, and every sample's augmentation
    # a pure function of (seed, epoch, index), whatever the worker count,
    # batch size or resume point (exact resume, teacher-output cache).
    sampler=dict(type='ReplaySampler', shuffle=True),
)

val_dataloader = dict(
    batch_size=128,
    num_workers=2,
    dataset=dict(
        type=dataset_type,
        data_root='data/scenes',
        split='test',
        train_ratio=0.8,
        val_ratio=0.0,
        split_seed=0,
        pipeline=test_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=False),
)
val_evaluator = dict(type='Accuracy', topk=(1, 5))

test_dataloader = val_dataloader
test_evaluator = val_evaluator
