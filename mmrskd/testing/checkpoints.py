"""Checkpoints in the format of mmengine's Runner, without training.

A teacher trained with mmpretrain's or mmdet's own tools arrives as the
file ``Runner.save_checkpoint`` writes: ``meta`` (epoch, iter, the config
text, seed, dataset classes...), ``state_dict``, ``message_hub`` (with
``HistoryBuffer`` objects), ``optimizer`` and ``param_schedulers``. Tests of
the distillers load such a file, built here from the teacher's config with
random weights, instead of a checkpoint that mmrskd itself wrote.
"""
import time
from typing import Optional

import mmengine
import torch
from mmengine.config import Config
from mmengine.logging import MessageHub
from mmengine.registry import DefaultScope
from mmengine.runner.checkpoint import save_checkpoint, weights_to_cpu


def build_config_model(cfg: Config) -> torch.nn.Module:
    """The model of ``cfg`` (with the config's top-level
    ``data_preprocessor``, as the Runner builds it), its weights as the
    constructors leave them: random, like an untrained teacher's."""
    from mmrskd.utils.model_config import config_model, models_registry
    with DefaultScope.overwrite_default_scope(cfg.get('default_scope')):
        return models_registry(cfg).build(config_model(cfg))


def dataset_classes(cfg: Config) -> Optional[tuple]:
    """The class names of the config's training dataset type (what the
    Runner stores as ``meta.dataset_meta``), or None."""
    from mmrskd.datasets.wrappers import innermost_dataset
    from mmrskd.utils.model_config import is_detection
    if is_detection(cfg):
        from mmdet.registry import DATASETS
    else:
        from mmpretrain.registry import DATASETS
    dataset = innermost_dataset(cfg.get('train_dataloader', {}).get(
        'dataset', {}))
    dataset_cls = DATASETS.get(dataset.get('type', ''))
    metainfo = getattr(dataset_cls, 'METAINFO', None) or {}
    classes = metainfo.get('classes')
    return tuple(classes) if classes is not None else None


def save_runner_checkpoint(config_path: str, out_path: str,
                           epoch: int = 1, iters: int = 2) -> str:
    """Build the model of the config file ``config_path`` and write it to
    ``out_path`` as mmengine's Runner would after ``epoch`` epochs and
    ``iters`` iterations of SGD. Returns ``out_path``."""
    cfg = Config.fromfile(config_path)
    model = build_config_model(cfg)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    hub = MessageHub(f'teacher_ckpt_{time.time_ns()}')
    hub.update_scalar('train/loss', 1.0)
    hub.update_info('epoch', epoch)
    classes = dataset_classes(cfg)
    meta = dict(epoch=epoch, iter=iters, cfg=cfg.pretty_text, seed=0,
                experiment_name=f'teacher_{time.strftime("%Y%m%d_%H%M%S")}',
                time=time.strftime('%Y%m%d_%H%M%S'),
                mmengine_version=mmengine.__version__)
    if classes is not None:
        meta['dataset_meta'] = dict(classes=classes)
    checkpoint = dict(
        meta=meta,
        state_dict=weights_to_cpu(model.state_dict()),
        message_hub=hub.state_dict(),
        optimizer=optimizer.state_dict(),
        param_schedulers=[])
    save_checkpoint(checkpoint, out_path)
    return out_path
