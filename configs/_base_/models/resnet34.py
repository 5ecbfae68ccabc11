# ResNet-34 scene classifier: ResNet-18's model with depth 34.
_base_ = ['./resnet18.py']
model = dict(backbone=dict(depth=34))
