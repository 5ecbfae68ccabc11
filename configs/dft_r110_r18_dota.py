# DFT flip alignment (Ma et al., IEEE GRSL 2026) on the last stage + KD on
# logits, ResNet-110 -> ResNet-18 on DOTA-v1.0 object crops (64 px).
# Teacher: python tools/train.py configs/resnet110_dota.py
# Student layer4: 512 x 8 x 8; teacher stage 3: 64 x 16 x 16 (connector:
# 1x1 conv + BN, bilinear up-sampling; all 8 symmetries of the square).
_base_ = ['./kd_r110_r18_dota.py']
model = dict(distill_losses=dict(
    loss_flip=dict(
        type='FlipAlignLoss', student_channels=512, teacher_channels=64,
        mode='hard', loss_weight=1.0,
        inputs=['student.backbone.layer4', 'teacher.backbone.layers.2'])))
