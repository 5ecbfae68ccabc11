# CRD (Tian et al., ICLR 2020): contrastive distillation of the pooled
# embeddings with the official memory bank and NCE (128-d, 16384 negatives
# from other classes, t 0.07, weight 0.8). num_samples must be the training
# set's size: each dataset config sets it (docs/methods.md, "CRD").
_base_ = ['./cls_r34_r18.py']
model = dict(distill_losses=dict(
    loss_crd=dict(
        type='CRDLoss', student_channels=512, teacher_channels=512,
        feat_dim=128, nce_k=16384, nce_t=0.07, nce_mom=0.5,
        loss_weight=0.8,
        inputs=['student.neck', 'teacher.neck', 'sample_idx', 'labels'])))
