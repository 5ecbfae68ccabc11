"""Helpers shared by ``tools/train.py`` and ``tools/test.py``.

The tools accept the flag sets of mmpretrain 1.2's and mmdet 3.3's own tools
and work for classification and detection configs; what differs between the
two is decided by the config's ``default_scope``.
"""
import os
import os.path as osp
from contextlib import contextmanager
from copy import deepcopy
from typing import Optional, Sequence

import torch
from mmengine.config import Config, ConfigDict

from ..datasets.wrappers import innermost_dataset
from ..utils.model_config import (is_detection, is_distiller, load_config,
                                  models_registry, with_data_preprocessor)
from ..utils.state_dict import (check_state_fits, checkpoint_state,
                                read_checkpoint)

__all__ = [
    'add_flip_tta', 'build_runner', 'check_resume_checkpoint',
    'check_writable_dir', 'distributed_run', 'end_distributed',
    'innermost_dataset', 'is_detection', 'is_distiller', 'load_config',
    'models_registry', 'set_dataloader_defaults', 'set_work_dir',
    'to_student_only', 'tool_dataloader_defaults', 'use_gloo_without_gpu'
]


def build_runner(cfg: Config):
    """mmengine's Runner, or the config's own ``runner_type``."""
    from mmengine.registry import RUNNERS
    from mmengine.runner import Runner
    return Runner.from_cfg(cfg) if 'runner_type' not in cfg \
        else RUNNERS.build(cfg)


def set_work_dir(cfg: Config, work_dir: Optional[str],
                 config_path: str) -> None:
    """CLI > ``work_dir`` in the file > ``./work_dirs/<config name>``."""
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(config_path))[0])
    check_writable_dir(cfg.work_dir)


def check_writable_dir(path: str) -> None:
    """Fail early, naming the directory, when outputs cannot be written."""
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as exc:
        raise PermissionError(
            f'Cannot create the work directory "{path}": {exc.strerror}. '
            'Pass a writable --work-dir.') from exc
    if not os.access(path, os.W_OK):
        raise PermissionError(
            f'The work directory "{path}" is not writable. Pass a writable '
            '--work-dir.')


def tool_dataloader_defaults(cfg: Config) -> ConfigDict:
    """What the project's own ``tools/train.py`` adds under a config's
    dataloaders: mmpretrain 1.2's tool fills in pin memory, persistent
    workers and ``default_collate``; mmdet 3.3's tool adds nothing (mmengine
    then uses ``pseudo_collate`` and ``DetDataPreprocessor`` pads images of
    different sizes). The config's own keys always win."""
    if is_detection(cfg):
        return ConfigDict()
    return ConfigDict(pin_memory=True, persistent_workers=True,
                      collate_fn=dict(type='default_collate'))


def set_dataloader_defaults(cfg: Config, fields: Sequence[str],
                            pin_memory: bool = True,
                            persistent_workers: Optional[bool] = True
                            ) -> None:
    """The dataloader defaults of the config's own OpenMMLab tool
    (:func:`tool_dataloader_defaults`), then the command-line switches.

    ``persistent_workers`` is switched off where no workers exist (torch
    rejects it with ``num_workers=0``) or when the CLI says so; pass None to
    leave it untouched. Pin memory is off without a GPU.
    """
    defaults = tool_dataloader_defaults(cfg)
    if persistent_workers is None:
        defaults.pop('persistent_workers', None)
    for field in fields:
        if cfg.get(field, None) is None:
            continue
        loader = ConfigDict(defaults.copy())
        loader.update(cfg[field])
        if 'pin_memory' in loader and (not pin_memory or
                                       not torch.cuda.is_available()):
            loader.pin_memory = False
        if persistent_workers is not None and \
                loader.get('persistent_workers') and (
                    not persistent_workers or not loader.get('num_workers')):
            loader.persistent_workers = False
        cfg[field] = loader


def use_gloo_without_gpu(cfg: Config) -> None:
    """Multi-process training and testing on CPUs.

    NCCL needs GPUs, and mmengine 0.10's ``pytorch`` launcher calls
    ``torch.cuda.set_device`` and wraps the model with ``device_ids=[rank]``,
    which fail without one. Without a GPU this initialises the process group
    with gloo itself (mmengine then skips its own initialisation) and wraps
    the model in DDP without device ids.
    """
    launcher = cfg.get('launcher', 'none')
    if launcher == 'none' or torch.cuda.is_available():
        return
    env_cfg = cfg.setdefault('env_cfg', ConfigDict())
    env_cfg.setdefault('dist_cfg', ConfigDict())
    env_cfg.dist_cfg.backend = 'gloo'
    wrapper = cfg.get('model_wrapper_cfg') or ConfigDict(
        type='MMDistributedDataParallel', broadcast_buffers=False)
    wrapper.device_ids = None
    cfg.model_wrapper_cfg = wrapper
    if launcher == 'pytorch':
        import torch.distributed as dist
        if not dist.is_initialized():
            dist.init_process_group(
                backend='gloo', rank=int(os.environ['RANK']),
                world_size=int(os.environ['WORLD_SIZE']))


def end_distributed(succeeded: bool = True) -> None:
    """Tear the process group down before the interpreter exits.

    Left alive, gloo's worker threads are destroyed during interpreter
    shutdown and a rank can abort with "terminate called without an active
    exception" after a run that succeeded. After success a barrier first lets
    the ranks leave together; after a failure there is no barrier, since the
    other ranks may be blocked in a collective this rank will never join.
    """
    import torch.distributed as dist
    if dist.is_available() and dist.is_initialized():
        if succeeded:
            dist.barrier()
        dist.destroy_process_group()


@contextmanager
def distributed_run():
    """Wrap a training or test run: :func:`end_distributed` afterwards,
    with the barrier only when the run succeeded."""
    try:
        yield
    except BaseException:
        end_distributed(succeeded=False)
        raise
    end_distributed()


def to_student_only(cfg: Config) -> bool:
    """Replace a distiller model config by its student, for testing.

    The teacher is then neither built nor loaded. Returns True when the
    config was a distiller's.
    """
    if not is_distiller(cfg.model):
        return False
    cfg.model = with_data_preprocessor(cfg.model.student,
                                       cfg.model.get('data_preprocessor'))
    cfg.custom_hooks = [h for h in cfg.get('custom_hooks', [])
                        if h.get('type') != 'ExportStudentHook']
    return True


def check_resume_checkpoint(runner, cfg: Config, config_path: str) -> None:
    """Refuse to resume from a checkpoint written by another config.

    mmengine resumes with ``strict=False``: a checkpoint of another model
    would load partly and training would go on silently. This compares the
    checkpoint's weights with the model's first and names the differences.
    """
    if not cfg.get('resume'):
        return
    from mmengine.model import is_model_wrapper
    from mmengine.runner import find_latest_checkpoint
    path = cfg.get('load_from') or find_latest_checkpoint(cfg.work_dir)
    if not path or not osp.isfile(path):
        return
    state = checkpoint_state(read_checkpoint(path, 'Resume checkpoint'))
    model = runner.model.module if is_model_wrapper(runner.model) \
        else runner.model
    check_state_fits(
        model, state,
        f'Cannot resume from "{path}": it is not a checkpoint of '
        f'{config_path}', 'Resume with the config that wrote it, or start a '
        'new work dir.', n=3)


def add_flip_tta(cfg: Config) -> None:
    """The ``--tta`` behaviour of mmpretrain's and mmdet's test tools."""
    det = is_detection(cfg)
    if 'tta_model' not in cfg:
        cfg.tta_model = dict(
            type='DetTTAModel',
            tta_cfg=dict(nms=dict(type='nms', iou_threshold=0.5),
                         max_per_img=100)) if det else dict(
                             type='mmpretrain.AverageClsScoreTTA')
    if 'tta_pipeline' not in cfg:
        test_pipeline = innermost_dataset(cfg.test_dataloader.dataset).pipeline
        cfg.tta_pipeline = deepcopy(test_pipeline)
        cfg.tta_pipeline[-1] = dict(
            type='TestTimeAug',
            transforms=[[dict(type='RandomFlip', prob=1.),
                         dict(type='RandomFlip', prob=0.)],
                        [test_pipeline[-1]]])
    cfg.model = ConfigDict(**cfg.tta_model, module=cfg.model)
    innermost_dataset(cfg.test_dataloader.dataset).pipeline = cfg.tta_pipeline
