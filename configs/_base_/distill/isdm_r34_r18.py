# ISDM (Li et al., Remote Sensing 2024): instance-level scaling + dynamic
# margin alignment; w_kd 4, w_ent 0.1, T 4, m0 5 (docs/methods.md, "ISDM").
_base_ = ['./cls_r34_r18.py']
model = dict(distill_losses=dict(
    loss_isdm=dict(type='ISDMLoss', temperature=4.0, kd_weight=4.0,
                   ent_weight=0.1, use_is=True, use_dm=True,
                   margin='dynamic', margin_value=5.0)))
