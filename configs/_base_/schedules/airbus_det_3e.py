# The CPU-scale detection schedule of the Airbus protocol (2 cores, no GPU):
# 3 epochs of 143 iterations (batch 8), 100-iteration linear warm-up, cosine
# decay to 1e-4, lr 0.01, gradients clipped at 35 because every layer starts
# from scratch. A detector base (_base_/det/*_1x.py) already sets these keys,
# so they are values to take, not keys to inherit (mmengine refuses a key that
# two bases set):
#     train_cfg = {{_base_.airbus_det_3e.train_cfg}}
#     param_scheduler = {{_base_.airbus_det_3e.param_scheduler}}
#     optim_wrapper = {{_base_.airbus_det_3e.optim_wrapper}}
# (the optim_wrapper merges into the detector's: FCOS keeps its bias settings)
airbus_det_3e = dict(
    train_cfg=dict(max_epochs=3, val_interval=3),
    param_scheduler=[
        dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0,
             end=100),
        dict(type='CosineAnnealingLR', by_epoch=True, begin=0, end=3,
             T_max=3, eta_min=1e-4, convert_to_iter_based=True),
    ],
    optim_wrapper=dict(optimizer=dict(lr=0.01),
                       clip_grad=dict(max_norm=35, norm_type=2)))
