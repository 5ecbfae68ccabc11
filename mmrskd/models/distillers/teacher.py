"""The frozen teacher shared by the classification and detection distillers.

The teacher is built from its own config, loaded from
``teacher_ckpt`` on the CPU, frozen, kept in eval mode (also after
``.train()``), run under ``torch.no_grad`` and never computes its losses
unless a method asks for them. It lives *outside* the distiller's module
tree (like mmdet's ``KnowledgeDistillationSingleStageDetector``), so its
weights are never in ``state_dict()``/checkpoints, never in the optimizer,
and never in DDP's gradient bookkeeping.
"""
import os.path as osp
from typing import Callable, List, Optional, Union

import torch
import torch.nn as nn
from torch.utils._pytree import tree_map
from mmengine.config import Config, ConfigDict
from mmengine.logging import MMLogger
from mmengine.registry import Registry

from ...utils.model_config import config_model
from ...utils.random_state import preserved_random_state
from ...utils.state_dict import (CheckpointReadError, check_state_fits,
                                 checkpoint_state, model_weights,
                                 read_checkpoint)


class TeacherCheckpointError(RuntimeError):
    """The teacher checkpoint is missing or does not fit the teacher."""


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

    Accepts what a user may have (:func:`mmrskd.utils.model_weights`):
    checkpoints written by mmengine's Runner for plain mmpretrain / mmdet
    (also without mmrskd installed), an mmrskd distiller's checkpoint (its
    student becomes the teacher), bare state dicts, and states saved from a
    DDP-wrapped model. The file is read with weights-only loading.
    """
    if not osp.isfile(ckpt):
        how = (f'`python tools/train.py {osp.relpath(teacher_cfg)}`'
               if teacher_cfg else '`python tools/train.py <teacher config>`')
        raise TeacherCheckpointError(
            f'Teacher checkpoint "{ckpt}" does not exist. Train the teacher '
            f'first ({how}) or point `model.teacher_ckpt` at its checkpoint '
            '(e.g. --cfg-options model.teacher_ckpt=PATH).')
    try:
        state = model_weights(checkpoint_state(
            read_checkpoint(ckpt, 'Teacher checkpoint')), ckpt)
    except CheckpointReadError as exc:
        raise TeacherCheckpointError(str(exc)) from exc
    if not any(hasattr(v, 'shape') for v in state.values()):
        raise TeacherCheckpointError(
            f'Teacher checkpoint "{ckpt}" holds no weights (keys: '
            f'{list(state)[:5]}). Expected an mmengine checkpoint '
            "({'state_dict': ...}), a distiller checkpoint or a bare state "
            'dict of the teacher model.')
    check_state_fits(
        model, state,
        f'Teacher checkpoint "{ckpt}" does not match the teacher model',
        'Is it a checkpoint of the teacher config (same architecture, same '
        'number of classes)?', TeacherCheckpointError)
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


#: ``teacher_precision`` -> autocast dtype of the teacher's forward.
PRECISIONS = {'fp32': None, 'bf16': torch.bfloat16, 'fp16': torch.float16}


def to_float32(outputs):
    """Every floating-point tensor in ``outputs`` (nested tuples, lists,
    dicts) as float32, so losses see the teacher in full precision."""
    return tree_map(
        lambda x: x.float() if torch.is_tensor(x) and x.is_floating_point()
        else x, outputs)


class Teacher:
    """A frozen teacher held outside the owning module's parameter tree.

    Args:
        model_cfg: the teacher's model config (with its own
            ``data_preprocessor`` when it comes from a config file).
        ckpt: path of the teacher's checkpoint. ``None`` is an error unless
            ``allow_random`` is set.
        registry: the MODELS registry to build it from.
        num_classes: the student's class count; a teacher with another one
            is an error.
        teacher_cfg: the teacher's config file, named in error messages.
        allow_random: accept ``ckpt=None`` and keep the random
            initialisation (smoke tests only; a warning is logged).
        owner: the distiller's class name, for error messages.
        precision: ``'fp32'`` (default), ``'bf16'`` or ``'fp16'``: the
            teacher's forward runs under ``torch.autocast`` with that dtype
            (bf16 on CPUs with AVX-512-BF16/AMX and on GPUs; fp16 on GPUs)
            and everything it returns or a hook captures is cast back to
            float32. Its weights stay float32.
    """

    def __init__(self, model_cfg: dict, ckpt: Optional[str],
                 registry: Registry, num_classes: Optional[int] = None,
                 teacher_cfg: Optional[str] = None,
                 allow_random: bool = False, owner: str = 'Distiller',
                 precision: str = 'fp32'):
        if precision not in PRECISIONS:
            raise ValueError(
                f'{owner}: teacher_precision must be one of '
                f'{list(PRECISIONS)}, got {precision!r}.')
        self.precision = precision
        if ckpt is None and not allow_random:
            how = osp.relpath(teacher_cfg) if teacher_cfg else \
                '<teacher config>'
            raise TeacherCheckpointError(
                f'{owner}: model.teacher_ckpt is not set, so the teacher '
                'would keep its random initialisation and the student would '
                'learn from noise. Point it at the trained teacher (e.g. '
                '--cfg-options model.teacher_ckpt=work_dirs/<teacher>/'
                f'epoch_N.pth; train it with `python tools/train.py {how}`).'
                ' Only for smoke tests: model.allow_random_teacher=True.')
        # Building draws random initial weights; keep the global generators
        # where they were, so the student starts the same whether the teacher
        # is built or its outputs come from a cache.
        with preserved_random_state():
            self.model: nn.Module = registry.build(model_cfg)
        n = count_classes(self.model)
        if num_classes is not None and n is not None and n != num_classes:
            raise ValueError(
                f'The teacher predicts {n} classes, the student {num_classes}'
                '. Use a teacher trained on the same dataset.')
        if ckpt is None:
            MMLogger.get_current_instance().warning(
                f'{owner}: allow_random_teacher=True and no teacher_ckpt: the '
                'teacher keeps its random initialisation (smoke test).')
        else:
            load_teacher_weights(self.model, ckpt, teacher_cfg)
        self.ckpt = ckpt
        self.model.eval()
        self.model.requires_grad_(False)
        self._hooks: List = []

    @property
    def data_preprocessor(self) -> Optional[nn.Module]:
        """The teacher's own data preprocessor (from its config)."""
        return getattr(self.model, 'data_preprocessor', None)

    # The owner calls this from ``nn.Module._apply`` (to/cuda/cpu/half).
    def apply(self, fn: Callable) -> None:
        self.model._apply(fn)

    def register_capture(self, names: List[str],
                         store: 'FeatureStore') -> None:
        """Capture the outputs of the named teacher modules into ``store``."""
        cast = None if self.precision == 'fp32' else to_float32
        self._hooks += register_capture_hooks(self.model, names, store,
                                              'teacher', cast)

    @torch.no_grad()
    def __call__(self, fn: Union[str, Callable], *args, **kwargs):
        """Run ``fn`` (a method name of the teacher, or a callable taking the
        teacher) under ``no_grad`` in eval mode, at ``precision``."""
        self.model.eval()
        run = (lambda: getattr(self.model, fn)(*args, **kwargs)) \
            if isinstance(fn, str) else (
                lambda: fn(self.model, *args, **kwargs))
        dtype = PRECISIONS[self.precision]
        if dtype is None:
            return run()
        device = next(self.model.parameters()).device.type
        with torch.autocast(device_type=device, dtype=dtype):
            out = run()
        return to_float32(out)


class FeatureStore(dict):
    """Outputs captured by forward hooks, keyed ``'<owner>.<module>'``.

    Hooks write only while ``active`` (a distiller's loss pass), so
    validation and test forwards keep no feature maps alive.
    """
    active: bool = False


def register_capture_hooks(model: nn.Module, names: List[str],
                           store: FeatureStore, owner: str,
                           cast: Optional[Callable] = None) -> List:
    """Forward hooks that write ``store['<owner>.<name>'] = output`` (through
    ``cast`` if given) for each module ``name`` of ``model`` while
    ``store.active``; unknown names give an error listing the candidates."""
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
                store[_key] = output if cast is None else cast(output)

        handles.append(modules[name].register_forward_hook(hook))
    return handles
