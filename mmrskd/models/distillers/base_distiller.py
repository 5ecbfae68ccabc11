"""What every mmrskd distiller shares: the frozen teacher with its own
input normalisation, and the distillation-loss table with its input wiring
(docs/methods.md, "Distiller")."""
from typing import Dict, List, Optional, Tuple

import torch.nn as nn
from mmengine.model import BaseModel
from mmengine.registry import DefaultScope, Registry
from torch import Tensor

from ...utils.model_config import with_data_preprocessor
from .data_preprocessor import distill_preprocessor
from .loss_inputs import (Inputs, check_loss_inputs, flat_sources,
                          gather_inputs, loss_label, normalize_inputs)
from .teacher import (FeatureStore, Teacher, register_capture_hooks,
                      teacher_model_cfg)
from .teacher_cache import TeacherCache, open_teacher_cache


def build_student(student: dict, data_preprocessor: Optional[dict],
                  registry: Registry) -> nn.Module:
    """Build the student; the config's top-level data preprocessor (which
    mmengine's Runner hands to the distiller) goes to the student unless it
    has its own."""
    return registry.build(with_data_preprocessor(student, data_preprocessor))


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

    ``inputs`` may also be a dict ``{forward parameter: source}`` (passed by
    keyword). Either form is checked against the loss's ``forward``
    signature when the distiller is built (:mod:`.loss_inputs`): a source
    too many or too few, or a parameter it does not have, is an error
    naming the loss and the argument. Loss names must start with ``loss_``
    so mmengine sums and logs them.

    The teacher normalises the raw batch with its own config's data
    preprocessor (``teacher_cfg``'s, or the inline ``teacher``'s when it has
    one; ``teacher_data_preprocessor`` overrides both), so it sees what its
    standalone inference would; when that equals the student's, the
    student's inputs are shared. Training batches then carry
    ``teacher_inputs`` (:class:`DistillDataPreprocessor`).
    """

    #: source keys computed by the subclass itself (not forward hooks).
    BUILTIN_SOURCES: Tuple[str, ...] = ()
    #: builtin sources taken from the teacher model's parts (a teacher
    #: cache stores them)
    TEACHER_PART_SOURCES: Tuple[str, ...] = ()
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
        self.loss_inputs: Dict[str, Inputs] = {}
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
        hooked = {'student': set(), 'teacher': set()}
        parts = set()  # builtin sources from the teacher model's parts
        for name, cfg in losses.items():
            label = loss_label(name, cfg)
            for src in flat_sources(self._build_loss(name, label, dict(cfg),
                                                     registry)):
                if src in self.TEACHER_PART_SOURCES:
                    parts.add(src)
                if src not in self.BUILTIN_SOURCES:
                    self._capture(label, src, hooked)
        #: the teacher modules whose outputs the losses read
        self.teacher_modules = sorted(hooked['teacher'])
        if self.teacher_cache is not None:
            self._check_cached(self.teacher_modules,
                               'teacher.classifier' in parts)

    def _check_cached(self, modules: List[str], classifier: bool) -> None:
        """The teacher cache holds every teacher feature the losses read."""
        cache = self.teacher_cache
        missing = ['teacher.' + m for m in modules if m not in cache.sources]
        if classifier and not cache.has_classifier:
            missing.append('teacher.classifier')
        if missing:
            held = sorted('teacher.' + m for m in cache.sources)
            raise ValueError(
                f'distill_losses read the teacher\'s {missing}, which '
                f'teacher_cache "{cache.path}" does not hold (it holds '
                f'{held or "its logits only"}). Build a cache for this '
                'config (tools/cache_teacher.py caches what its losses '
                'read; --sources adds more), or '
                'remove teacher_cache to run the teacher online.')

    def _build_loss(self, name: str, label: str, cfg: dict,
                    registry: Registry) -> Inputs:
        """Build loss ``name``; its ``inputs`` must fit its ``forward``."""
        if not name.startswith('loss_'):
            raise KeyError(f'distill_losses key "{name}" must start '
                           'with "loss_" (mmengine only sums and logs '
                           'entries named loss_*).')
        inputs = normalize_inputs(cfg.pop('inputs', self.DEFAULT_INPUTS))
        try:
            # mmrskd registers its losses in the distiller's registry (mmdet
            # or mmpretrain): resolve there also in a config of another
            # scope (mmrotate's); other projects' losses take their prefix
            with DefaultScope.overwrite_default_scope(registry.scope):
                loss = registry.build(cfg)
        except TypeError as exc:
            raise TypeError(f'{label}: {exc}') from exc
        check_loss_inputs(label, loss.forward, inputs)
        self.distill_losses[name] = loss
        self.loss_inputs[name] = inputs
        return inputs

    def _capture(self, label: str, src: str, hooked: dict) -> None:
        """Hook the module whose output is source ``src`` (of the loss
        ``label``); the teacher's only when it runs online."""
        owner, _, module = src.partition('.')
        if owner not in hooked or not module:
            raise KeyError(
                f'{label}, inputs: unknown source "{src}". Use one of '
                f'{list(self.BUILTIN_SOURCES)} or "student.<module>" / '
                '"teacher.<module>".')
        if module in hooked[owner]:
            return
        hooked[owner].add(module)
        try:
            if owner == 'student':
                register_capture_hooks(self.student, [module],
                                       self._captured, 'student')
            elif self.teacher is not None:
                self.teacher.register_capture([module], self._captured)
        except KeyError as exc:
            raise KeyError(f'{label}: {exc.args[0]}') from None

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
            args, kwargs = gather_inputs(self.loss_inputs[name], sources)
            losses[name] = loss(*args, **kwargs)
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
