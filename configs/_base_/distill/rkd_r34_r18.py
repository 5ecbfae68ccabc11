# RKD (Park et al., CVPR 2019): distance (weight 25) and angle (weight 50)
# relations of the pooled embeddings (docs/methods.md, "RKD").
_base_ = ['./cls_r34_r18.py']
model = dict(distill_losses=dict(
    loss_rkd=dict(
        type='RKDLoss', distance_weight=25.0, angle_weight=50.0,
        inputs=['student.neck', 'teacher.neck'])))
