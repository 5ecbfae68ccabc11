# SDD (Wei et al., CVPR 2024): each model's classifier on its layer4 map pooled
# at scales 1, 2 and 4, KD (T 4) on the 21 local logit pairs, complementary
# regions weighted 2 (docs/methods.md, "SDD").
_base_ = ['./cls_r34_r18.py']
model = dict(distill_losses=dict(
    loss_sdd=dict(
        type='SDDLoss', scales=(1, 2, 4), temperature=4.0, beta=2.0,
        inputs=['student.backbone.layer4', 'teacher.backbone.layer4',
                'labels', 'student.classifier', 'teacher.classifier'])))
