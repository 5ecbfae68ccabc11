# ResNet-18 at quarter width (16/32/64/128 channels, 0.7 M parameters):
# a small student for CPU-scale protocols, where a full ResNet-18 is as good
# as a ResNet-34 teacher.
_base_ = ['./resnet18.py']
model = dict(
    backbone=dict(stem_channels=16, base_channels=16),
    head=dict(in_channels=128))
