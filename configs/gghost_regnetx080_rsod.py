# G-Ghost RegNetX-8.0GF alone on RSOD 8:2 (vanilla student baseline).
_base_ = [
    '_base_/models/gghost_regnetx080.py', '_base_/datasets/rsod_8-2.py',
    '_base_/schedules/rs_sgd_200e.py', '_base_/default_runtime.py'
]
model = dict(head=dict(num_classes={{_base_.num_classes}}))
