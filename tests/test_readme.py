"""The README's "add your own distillation loss" example works as written."""
import os.path as osp
import re
import sys

import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

import mmrskd  # noqa: F401  (resolves mmrskd:: in _base_, as the README says)
from mmrskd.utils.model_config import config_model

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def test_add_your_own_loss_example(tmp_path):
    readme = open(osp.join(ROOT, 'README.md')).read()
    section = readme.split('## Add your own distillation loss')[1]
    blocks = re.findall(r'```python\n(.*?)```', section, re.S)
    loss_code, config_code = blocks[0], blocks[1]
    pkg = tmp_path / 'my_project'
    pkg.mkdir()
    (pkg / '__init__.py').write_text('')
    (pkg / 'losses.py').write_text(loss_code)
    (tmp_path / 'my_config.py').write_text(config_code)
    sys.path.insert(0, str(tmp_path))
    try:
        init_default_scope('mmpretrain')
        cfg = Config.fromfile(str(tmp_path / 'my_config.py'))
        cfg.model.teacher_ckpt = None
        cfg.model.allow_random_teacher = True
        cfg.model.teacher_cfg = osp.join(ROOT, 'configs', 'demo',
                                         'resnet34_demo.py')
        cfg.model.student.head.num_classes = 6
        model = MODELS.build(config_model(cfg))
    finally:
        sys.path.remove(str(tmp_path))
    data = model.data_preprocessor(dict(
        inputs=[torch.randint(0, 255, (3, 64, 64), dtype=torch.uint8)
                for _ in range(2)],
        data_samples=[DataSample().set_gt_label(i) for i in (0, 1)]), True)
    losses = model(**data, mode='loss')
    assert set(losses) == {'loss_cls', 'loss_kd', 'loss_cos'}
    assert 0 <= losses['loss_cos'].item() <= 2
