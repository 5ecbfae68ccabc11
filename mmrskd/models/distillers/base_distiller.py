"""What every mmrskd distiller shares: the frozen teacher with its own
input normalisation, and the distillation-loss table with its input wiring
(docs/methods.md, "Distiller")."""
from typing import Dict, Optional, Tuple

import torch.nn as nn
from mmengine.model import BaseModel
from mmengine.registry import Registry
from torch import Tensor

from .data_preprocessor import distill_preprocessor
from .teacher import (FeatureStore, Teacher, register_capture_hooks,
                      teacher_model_cfg)
from .teacher_cache import TeacherCache, open_teacher_cache


def build_student(student: dict, data_preprocessor: Optional[dict],
                  registry: Registry) -> nn.Module:
    """Build the student; the config's top-level data preprocessor (which
    mmengine's Runner hands to the distiller) goes to the student unless it
    has its own."""
    student = dict(student)
    if data_preprocessor is not None:
        student.setdefault('data_preprocessor', data_preprocessor)
    return registry.build(student)


class BaseDistiller(BaseModel):
    """Student + frozen :class:`Teacher` + named distillation losses.

    Each entry of ``distill_losses`` is a loss config whose optional
    ``inputs`` key lists where its positional arguments come from:

    - ``'student.logits'``, ``'teacher.logits'``, ``'labels'`` (the default
      ``inputs`` of a logit loss), or any other key the subclass provides;
    - ``'student.<module name>'`` / ``'teacher.<module name>'``: the output
      of that module, captured by a forward hook (e.g.
      ``'student.backbone.layer4'``);
    - a list of such sources: the loss gets them as one tuple (e.g. the
      maps of several layers for a multi-layer feature loss).

    Loss names must start with ``loss_`` so mmengine sums and logs them.

    The teacher normalises the raw batch with its own config's data
    preprocessor (``teacher_cfg``'s, or the inline ``teacher``'s when it has
    one; ``teacher_data_preprocessor`` overrides both), so it sees what its
    standalone inference would; when that equals the student's, the
    student's inputs are shared. Training batches then carry
    ``teacher_inputs`` (:class:`DistillDataPreprocessor`).
    """

    #: source keys computed by the subclass itself (not forward hooks).
    BUILTIN_SOURCES: Tuple[str, ...] = ()
    #: builtin sources that need the online teacher (not a cache)
    ONLINE_TEACHER_SOURCES: Tuple[str, ...] = ()
    DEFAULT_INPUTS: Tuple[str, ...] = ()

    def __init__(self, student: nn.Module, teacher: Optional[dict],
                 teacher_cfg: Optional[str], teacher_ckpt: Optional[str],
                 distill_losses: Optional[dict], registry: Registry,
                 num_classes: Optional[int],
                 teacher_data_preprocessor: Optional[dict] = None,
                 allow_random_teacher: bool = False,
                 teacher_precision: str = 'fp32',
                 teacher_cache: Optional[dict] = None, init_cfg=None):
        super().__init__(data_preprocessor=student.data_preprocessor,
                         init_cfg=init_cfg)
        self.student = student
        model_cfg = teacher_model_cfg(teacher, teacher_cfg)
        self.teacher_cache: Optional[TeacherCache] = None
        if teacher_cache is not None:
            # The teacher is never built: its logits come from the cache.
            object.__setattr__(self, 'teacher', None)
            self.teacher_cache = open_teacher_cache(
                teacher_cache, model_cfg, teacher_ckpt)
        else:
            # Outside the module tree: not in state_dict, parameters(), DDP.
            object.__setattr__(self, 'teacher', Teacher(
                model_cfg, teacher_ckpt, registry, num_classes, teacher_cfg,
                allow_random_teacher, type(self).__name__,
                teacher_precision))
            self._use_teacher_preprocessor(
                registry, teacher_data_preprocessor, teacher_cfg is not None
                or model_cfg.get('data_preprocessor') is not None)
        self.distill_losses = nn.ModuleDict()
        self.loss_inputs: Dict[str, list] = {}
        self._captured = FeatureStore()
        self._build_losses(distill_losses or {}, registry)

    def _use_teacher_preprocessor(self, registry: Registry,
                                  override: Optional[dict],
                                  has_own: bool) -> None:
        """Normalise for the teacher with ``override``, else with the
        teacher's own preprocessor when its config has one (an inline
        teacher without one shares the student's)."""
        if override is not None:
            t_pre = registry.build(override)
        elif has_own:
            t_pre = self.teacher.data_preprocessor
        else:
            return
        self.data_preprocessor = distill_preprocessor(
            self.student.data_preprocessor, t_pre)

    def _build_losses(self, losses: dict, registry: Registry) -> None:
        hooks = {'student': set(), 'teacher': set()}
        online = set()  # builtin sources that need the online teacher
        for name, cfg in losses.items():
            if not name.startswith('loss_'):
                raise KeyError(f'distill_losses key "{name}" must start '
                               'with "loss_" (mmengine only sums and logs '
                               'entries named loss_*).')
            cfg = dict(cfg)
            inputs = [tuple(i) if isinstance(i, (list, tuple)) else i
                      for i in cfg.pop('inputs', self.DEFAULT_INPUTS)]
            for src in flat_sources(inputs):
                if src in self.ONLINE_TEACHER_SOURCES:
                    online.add(src)
                if src in self.BUILTIN_SOURCES:
                    continue
                owner, _, module = src.partition('.')
                if owner not in hooks or not module:
                    raise KeyError(
                        f'distill_losses.{name}.inputs: unknown source '
                        f'"{src}". Use one of {list(self.BUILTIN_SOURCES)} or '
                        '"student.<module>" / "teacher.<module>".')
                hooks[owner].add(module)
            try:
                self.distill_losses[name] = registry.build(cfg)
            except TypeError as exc:
                raise TypeError(
                    f'distill_losses.{name} ({cfg.get("type")}): {exc}') \
                    from exc
            self.loss_inputs[name] = inputs
        register_capture_hooks(self.student, sorted(hooks['student']),
                               self._captured, 'student')
        online = sorted('teacher.' + m for m in hooks['teacher']) + \
            sorted(online)
        if online and self.teacher is None:
            raise ValueError(
                f'A teacher_cache holds the teacher\'s logits only, but '
                f'distill_losses read its features {online}: feature '
                'losses need the online teacher. Remove teacher_cache (or '
                'these losses).')
        if self.teacher is not None:
            self.teacher.register_capture(sorted(hooks['teacher']),
                                          self._captured)

    def forward(self, inputs: Tensor, data_samples=None, mode: str = 'tensor',
                **kwargs):
        """``loss`` runs the distillation (``self.loss``, with the feature
        hooks on); ``predict`` and ``tensor`` run the student alone."""
        if mode != 'loss':
            return self.student(inputs, data_samples, mode=mode)
        self._captured.active = True
        try:
            return self.loss(inputs, data_samples, **kwargs)
        finally:
            self._captured.active = False
            self._captured.clear()

    def compute_distill_losses(self, sources: Dict[str, Tensor]
                               ) -> Dict[str, Tensor]:
        """Call every distillation loss on its inputs from ``sources``."""
        sources = {**self._captured, **sources}
        losses = {}
        for name, loss in self.distill_losses.items():
            args = [tuple(sources[x] for x in s) if isinstance(s, tuple)
                    else sources[s] for s in self.loss_inputs[name]]
            losses[name] = loss(*args)
            # values a loss reports for the log (names without "loss",
            # so mmengine logs them and does not add them to the loss)
            if callable(getattr(loss, 'log_vars', None)):
                losses.update(loss.log_vars())
        return losses

    def _apply(self, fn, *args, **kwargs):
        # Keep the teacher on the student's device and dtype.
        super()._apply(fn, *args, **kwargs)
        if self.teacher is not None:
            self.teacher.apply(fn)
        return self


def flat_sources(inputs: list) -> list:
    """The sources of a loss's ``inputs`` (lists of sources flattened)."""
    return [x for i in inputs
            for x in (i if isinstance(i, tuple) else (i, ))]
