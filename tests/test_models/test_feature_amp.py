"""Every feature baseline trains under mixed precision: the distiller's loss
pass under autocast (what --amp's AmpOptimWrapper runs; bf16 on the CPU)
gives finite losses and float32 gradients to the student and the losses'
connectors."""
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

import mmrskd  # noqa: F401

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
METHODS = ('fitnet', 'at', 'rkd', 'crd', 'reviewkd', 'sdd')


@pytest.mark.parametrize('method', METHODS)
def test_feature_loss_under_bf16_autocast(method):
    init_default_scope('mmpretrain')
    cfg = Config.fromfile(osp.join(
        ROOT, 'configs', 'rsscn7_cpu', f'{method}_r34_r18w8_rsscn7_cpu.py'))
    model_cfg = cfg.model
    model_cfg.teacher_ckpt = None
    model_cfg.allow_random_teacher = True
    model_cfg.data_preprocessor = cfg.data_preprocessor
    torch.manual_seed(0)
    model = MODELS.build(model_cfg)
    model.train()
    g = torch.Generator().manual_seed(0)
    data = model.data_preprocessor(dict(
        inputs=[torch.randint(0, 255, (3, 64, 64), generator=g,
                              dtype=torch.uint8) for _ in range(4)],
        data_samples=[DataSample(metainfo=dict(sample_idx=i))
                      .set_gt_label(i % 7) for i in range(4)]), True)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        losses = model(**data, mode='loss')
    name = f'loss_{method}'
    assert torch.isfinite(losses[name]) and losses[name].dtype == \
        torch.float32, losses
    sum(v for k, v in losses.items() if k.startswith('loss')).backward()
    grads = {n: p.grad for n, p in model.named_parameters()
             if p.grad is not None}
    assert any(n.startswith('student.') for n in grads)
    connectors = [n for n, _ in model.distill_losses.named_parameters()]
    if method in ('fitnet', 'crd', 'reviewkd'):
        assert connectors
    for n in connectors:
        g = grads.get(f'distill_losses.{n}')
        if g is None:  # e.g. a BN bias with no path to the loss
            continue
        assert g.dtype == torch.float32 and torch.isfinite(g).all(), n
    assert all(torch.isfinite(g).all() for g in grads.values())
