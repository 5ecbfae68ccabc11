# Attention transfer (Zagoruyko and Komodakis, ICLR 2017): normalised spatial
# attention maps of layer1..layer4, beta 1000 (docs/methods.md, "AT").
_base_ = ['./cls_r34_r18.py']
model = dict(distill_losses=dict(
    loss_at=dict(
        type='ATLoss', p=2.0, loss_weight=1000.0,
        inputs=[['student.backbone.layer1', 'student.backbone.layer2',
                 'student.backbone.layer3', 'student.backbone.layer4'],
                ['teacher.backbone.layer1', 'teacher.backbone.layer2',
                 'teacher.backbone.layer3', 'teacher.backbone.layer4']])))
