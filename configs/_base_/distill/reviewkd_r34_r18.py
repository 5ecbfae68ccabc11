# ReviewKD (Chen et al., CVPR 2021): attention-based fusion of layer1..layer4
# of the student, hierarchical context loss against the teacher's, weight 1
# (the official ImageNet setting; docs/methods.md, "ReviewKD").
_base_ = ['./cls_r34_r18.py']
model = dict(distill_losses=dict(
    loss_reviewkd=dict(
        type='ReviewKDLoss', student_channels=(64, 128, 256, 512),
        teacher_channels=(64, 128, 256, 512), loss_weight=1.0,
        inputs=[['student.backbone.layer1', 'student.backbone.layer2',
                 'student.backbone.layer3', 'student.backbone.layer4'],
                ['teacher.backbone.layer1', 'teacher.backbone.layer2',
                 'teacher.backbone.layer3', 'teacher.backbone.layer4']])))
