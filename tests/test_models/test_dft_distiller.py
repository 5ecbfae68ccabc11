"""The DFT config: flip alignment between ResNet-18 layer4 and ResNet-110's
last stage, plus KD, through the ClsDistiller."""
import os.path as osp

import torch
from mmengine.config import Config
from mmengine.logging import MessageHub
from mmengine.registry import init_default_scope
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

from mmrskd.utils.model_config import config_model

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def test_dft_config_loss_step_and_histogram():
    init_default_scope('mmpretrain')
    cfg = Config.fromfile(osp.join(ROOT, 'configs/dft_r110_r18_dota.py'))
    cfg.model.teacher_ckpt = None
    cfg.model.allow_random_teacher = True
    model = MODELS.build(config_model(cfg))
    model.train()
    hub = MessageHub.get_instance('dft_test')
    data = dict(inputs=[torch.randint(0, 255, (3, 64, 64),
                                      dtype=torch.uint8) for _ in range(2)],
                data_samples=[DataSample().set_gt_label(i) for i in (0, 6)])
    data = model.data_preprocessor(data, True)
    losses = model(**data, mode='loss')
    assert set(losses) == {'loss_cls', 'loss_kd', 'loss_flip'}
    sum(losses.values()).backward()
    flip = model.distill_losses['loss_flip']
    assert flip.connector[0].weight.grad is not None
    shares = [hub.get_scalar(f'train/flip_align/{n}').current()
              for n in ('identity', 'hflip', 'vflip', 'rot180', 'rot90',
                        'rot270', 'transpose', 'antitranspose')]
    assert sum(shares) == 1.0
    # connector weights are checkpointed (for resume), not the teacher
    keys = model.state_dict().keys()
    assert any(k.startswith('distill_losses.loss_flip.connector') for k in keys)
    assert not any('teacher' in k for k in keys)
