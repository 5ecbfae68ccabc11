# The demo's student alone: ResNet-18 at an eighth of its width (0.18 M
# parameters, _base_/models/resnet18_w8.py) on the generated demo scenes
# (make demo), short CPU schedule.
_base_ = [
    '../_base_/models/resnet18_w8.py', '../_base_/datasets/demo_scenes.py',
    '../_base_/schedules/cpu_demo.py', '../_base_/default_runtime.py'
]
model = dict(head=dict(num_classes={{_base_.num_classes}}))
default_hooks = dict(logger=dict(interval=5))
