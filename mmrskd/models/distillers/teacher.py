"""The frozen teacher shared by the classification and detection distillers.

METHODS.md section 4: the teacher is built from its own config, loaded from
``teacher_ckpt`` on the CPU, frozen, kept in eval mode (also after
``.train()``), run under ``torch.no_grad`` and never computes its losses
unless a method asks for them. It lives *outside* the distiller's module
tree (like mmdet's ``KnowledgeDistillationSingleStageDetector``), so its
weights are never in ``state_dict()``/checkpoints, never in the optimizer,
and never in DDP's gradient bookkeeping.
"""
import os.path as osp
from typing import Callable, Dict, List, Optional, Union

import torch
import torch.nn as nn
from mmengine.config import Config, ConfigDict
from mmengine.logging import MMLogger
from mmengine.registry import Registry


class TeacherCheckpointError(RuntimeError):
    """The teacher checkpoint is missing or does not fit the teacher."""


def config_model(cfg: Config) -> ConfigDict:
    """A copy of ``cfg.model`` carrying the config's top-level
    ``data_preprocessor`` (as mmengine's Runner hands it over) unless the
    model has its own."""
    model = ConfigDict(cfg.model.copy())
    if cfg.get('data_preprocessor') is not None:
        model.setdefault('data_preprocessor', cfg.data_preprocessor)
    return model


def teacher_model_cfg(teacher: Optional[dict], teacher_cfg: Optional[str]
                      ) -> ConfigDict:
    """The teacher's model config: given inline, or the ``model`` of the
    config file ``teacher_cfg`` (its own data preprocessor included)."""
    if (teacher is None) == (teacher_cfg is None):
        raise ValueError('Give exactly one of `teacher` (a model config) and '
                         '`teacher_cfg` (path of a config file).')
    if teacher is not None:
        return ConfigDict(teacher)
    if not osp.isfile(teacher_cfg):
        raise FileNotFoundError(
            f'teacher_cfg "{teacher_cfg}" does not exist (relative paths '
            'are taken from the current directory).')
    return config_model(Config.fromfile(teacher_cfg))


def load_teacher_weights(model: nn.Module, ckpt: str,
                         teacher_cfg: Optional[str] = None) -> None:
    """Load ``ckpt`` into ``model`` strictly, with errors naming the file.

    Accepts mmengine checkpoints (``state_dict`` key), bare state dicts and
    checkpoints of an mmrskd distiller (keys under ``student.``).
    """
    if not osp.isfile(ckpt):
        how = (f'`python tools/train.py {osp.relpath(teacher_cfg)}`'
               if teacher_cfg else '`python tools/train.py <teacher config>`')
        raise TeacherCheckpointError(
            f'Teacher checkpoint "{ckpt}" does not exist. Train the teacher '
            f'first ({how}) or point `model.teacher_ckpt` at its checkpoint '
            '(e.g. --cfg-options model.teacher_ckpt=PATH).')
    try:
        obj = torch.load(ckpt, map_location='cpu', weights_only=True)
    except Exception as exc:  # noqa: BLE001
        raise TeacherCheckpointError(
            f'Cannot read teacher checkpoint "{ckpt}": {exc}') from exc
    state = obj.get('state_dict', obj) if isinstance(obj, dict) else None
    if not isinstance(state, dict) or not state:
        raise TeacherCheckpointError(
            f'Teacher checkpoint "{ckpt}" holds no state dict.')
    if all(k.startswith('student.') for k in state):
        state = {k[len('student.'):]: v for k, v in state.items()}
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    if missing or unexpected:
        raise TeacherCheckpointError(
            f'Teacher checkpoint "{ckpt}" does not match the teacher model '
            f'({type(model).__name__}): {len(missing)} missing key(s) '
            f'{missing[:5]}, {len(unexpected)} unexpected key(s) '
            f'{unexpected[:5]}. Is it a checkpoint of the teacher config?')
    shapes = [f'{k}: checkpoint {tuple(v.shape)} vs model '
              f'{tuple(own[k].shape)}' for k, v in state.items()
              if hasattr(v, 'shape') and v.shape != own[k].shape]
    if shapes:
        raise TeacherCheckpointError(
            f'Teacher checkpoint "{ckpt}" has tensors of other shapes than '
            f'the teacher model: {shapes[:5]}. A different number of '
            'classes or another architecture?')
    model.load_state_dict(state, strict=True)


def count_classes(model: nn.Module) -> Optional[int]:
    """``num_classes`` of a classifier's or detector's head, if it has one."""
    for name in ('head', 'bbox_head', 'roi_head'):
        head = getattr(model, name, None)
        if head is None:
            continue
        if hasattr(head, 'bbox_head'):  # two-stage RoI head
            head = head.bbox_head
        n = getattr(head, 'num_classes', None)
        if isinstance(n, int):
            return n
    # classifiers inside the backbone (mmpretrain's VGG)
    n = getattr(getattr(model, 'backbone', None), 'num_classes', None)
    return n if isinstance(n, int) and n > 0 else None


class Teacher:
    """A frozen teacher held outside the owning module's parameter tree.

    Args:
        model_cfg: the teacher's model config.
        ckpt: path of the teacher's checkpoint. ``None`` keeps the random
            initialisation (only meaningful for tests; a warning is logged).
        registry: the MODELS registry to build it from.
        num_classes: the student's class count; a teacher with another one
            is an error.
        teacher_cfg: the teacher's config file, named in error messages.
    """

    def __init__(self, model_cfg: dict, ckpt: Optional[str],
                 registry: Registry, num_classes: Optional[int] = None,
                 teacher_cfg: Optional[str] = None):
        self.model: nn.Module = registry.build(model_cfg)
        n = count_classes(self.model)
        if num_classes is not None and n is not None and n != num_classes:
            raise ValueError(
                f'The teacher predicts {n} classes, the student {num_classes}'
                '. Use a teacher trained on the same dataset.')
        if ckpt is None:
            MMLogger.get_current_instance().warning(
                'Distiller built without teacher_ckpt: the teacher keeps its '
                'random initialisation. Set teacher_ckpt to train for real.')
        else:
            load_teacher_weights(self.model, ckpt, teacher_cfg)
        self.ckpt = ckpt
        self.model.eval()
        self.model.requires_grad_(False)
        self._hooks: List = []

    # The owner calls this from ``nn.Module._apply`` (to/cuda/cpu/half).
    def apply(self, fn: Callable) -> None:
        self.model._apply(fn)

    def register_capture(self, names: List[str],
                         store: 'FeatureStore') -> None:
        """Capture the outputs of the named teacher modules into ``store``."""
        self._hooks += register_capture_hooks(self.model, names, store,
                                              'teacher')

    @torch.no_grad()
    def __call__(self, fn: Union[str, Callable], *args, **kwargs):
        """Run ``fn`` (a method name of the teacher, or a callable taking the
        teacher) under ``no_grad`` in eval mode."""
        self.model.eval()
        if isinstance(fn, str):
            return getattr(self.model, fn)(*args, **kwargs)
        return fn(self.model, *args, **kwargs)


class FeatureStore(dict):
    """Outputs captured by forward hooks, keyed ``'<owner>.<module>'``.

    Hooks write only while ``active`` (a distiller's loss pass), so
    validation and test forwards keep no feature maps alive.
    """
    active: bool = False


def register_capture_hooks(model: nn.Module, names: List[str],
                           store: FeatureStore, owner: str) -> List:
    """Forward hooks that write ``store['<owner>.<name>'] = output`` for each
    module ``name`` of ``model`` while ``store.active``; unknown names give
    an error listing the candidates."""
    modules = dict(model.named_modules())
    handles = []
    for name in names:
        if name not in modules:
            prefix = name.rsplit('.', 1)[0] if '.' in name else ''
            near = [m for m in modules if m and m.startswith(prefix)][:8]
            raise KeyError(
                f'The {owner} has no module "{name}" to capture features '
                f'from. Some of its modules: {near}.')

        def hook(_module, _inputs, output, _key=f'{owner}.{name}'):
            if store.active:
                store[_key] = output

        handles.append(modules[name].register_forward_hook(hook))
    return handles
