# ResNet-18 at an eighth of its width (8/16/32/64 channels, 0.18 M
# parameters): an edge-sized student for the CPU-scale protocol. At 64 px a
# full ResNet-18 is as good as the ResNet-34 teacher (and a quarter-width
# one only 1 point behind), so there would be nothing to distil.
_base_ = ['./resnet18.py']
model = dict(
    backbone=dict(stem_channels=8, base_channels=8),
    head=dict(in_channels=64))
