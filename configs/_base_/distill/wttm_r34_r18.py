# WTTM (Zheng and Yang, ICLR 2024): the student's plain softmax matched to the
# power-transformed teacher p_t^gamma (gamma 0.2, i.e. T 5), each sample
# weighted by sum_c p_t^gamma, beta 4 (docs/methods.md, "WTTM").
_base_ = ['./cls_r34_r18.py']
model = dict(distill_losses=dict(
    loss_wttm=dict(type='WTTMLoss', gamma=0.2, weighted=True,
                   loss_weight=4.0)))
