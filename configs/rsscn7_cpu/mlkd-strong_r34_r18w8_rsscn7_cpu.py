# MLKD (Jin et al., CVPR 2023) with its two-view recipe on the CPU-scale
# RSSCN7 protocol: each training image gives a weak view (the protocol's crop
# and flips) and a strong one (the same, then RandAugment with 2 ops of random
# magnitude and a 32 px Cutout, as FixMatch's). The student's cross-entropy is
# summed over both views; the full MLKD loss on the weak view, its KL terms at
# T 3, 4, 5 on the strong view, and (as the official code's strong-view loop,
# which reads the weak logits at T 2 and 6) KL at T 2 and 6 on the weak view
# (docs/methods.md, "MLKD").
_base_ = ['./mlkd_r34_r18w8_rsscn7_cpu.py']

crop_flip = [
    dict(type='RandomCrop', crop_size=64),
    dict(type='RandomFlip', prob=[0.25, 0.25],
         direction=['horizontal', 'vertical']),
]
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(72, 72)),
    dict(type='MultiView', num_views=[1, 1], transforms=[
        crop_flip,
        crop_flip + [
            dict(type='RandAugment', policies='timm_increasing',
                 num_policies=2, total_level=10, magnitude_level=10,
                 magnitude_std='inf'),
            dict(type='Cutout', shape=32, prob=1.0),
        ]]),
    dict(type='PackInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))

kl_only = dict(type='MLKDLoss', batch_weight=0.0, class_weight=0.0,
               confidence_percentile=None)
model = dict(
    views=2,
    distill_losses=dict(
        loss_mlkd_strong=dict(
            kl_only, temperatures=(3.0, 4.0, 5.0),
            inputs=['student.logits.view1', 'teacher.logits.view1',
                    'labels']),
        loss_mlkd_weak_t26=dict(kl_only, temperatures=(2.0, 6.0))))
