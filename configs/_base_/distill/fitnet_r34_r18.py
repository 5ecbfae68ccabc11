# FitNet (Romero et al., ICLR 2015): a hint on layer2 (128 -> 128 channels)
# through a learned conv + BN + ReLU regressor (mdistiller's ConvReg), MSE
# weight 100 as mdistiller (docs/methods.md, "FitNet").
_base_ = ['./cls_r34_r18.py']
model = dict(distill_losses=dict(
    loss_fitnet=dict(
        type='FitNetLoss', student_channels=128, teacher_channels=128,
        loss_weight=100.0,
        inputs=['student.backbone.layer2', 'teacher.backbone.layer2'])))
