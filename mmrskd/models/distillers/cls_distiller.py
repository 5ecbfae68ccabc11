"""Logit- and feature-level distillation of mmpretrain image classifiers."""
from typing import Dict, List, Optional

import torch
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample
from torch import Tensor

from ...compat import cls_head_loss
from .base_distiller import BaseDistiller, build_student
from .loss_inputs import flat_sources
from .multi_view import MultiViewDataPreprocessor
from .teacher import count_classes


def batch_labels(data_samples: List[DataSample]) -> Tensor:
    """Hard labels (N,), or soft (N, C) scores under Mixup/CutMix."""
    if 'gt_score' in data_samples[0]:
        return torch.stack([s.gt_score for s in data_samples])
    return torch.cat([s.gt_label for s in data_samples])


def sample_indices(data_samples: List[DataSample], device=None) -> Tensor:
    """Dataset indices (N,) of a batch's samples (their ``sample_idx``)."""
    if any(s.get('sample_idx') is None for s in data_samples):
        raise KeyError(
            "The 'sample_idx' source needs each data sample's sample_idx "
            "(mmpretrain's PackInputs packs it by default; keep "
            "'sample_idx' in its meta_keys).")
    return torch.tensor([int(s.sample_idx) for s in data_samples],
                        dtype=torch.long, device=device)


def student_losses(head, logits: Tensor, data_samples) -> Dict[str, Tensor]:
    """The student head's own losses, its cross-entropy as ``loss_cls``:
    mmpretrain names it ``loss``, the key under which mmengine logs the
    total, so a distiller's log would show the cross-entropy as the total."""
    return {('loss_cls' if k == 'loss' else k): v
            for k, v in cls_head_loss(head, logits, data_samples).items()}


def classifier_of(model, owner: str):
    """The linear classifier of an mmpretrain classifier's head
    (``head.fc``): maps (..., C_feat) to (..., num_classes)."""
    fc = getattr(getattr(model, 'head', None), 'fc', None)
    if fc is None:
        raise KeyError(
            f"The '{owner}.classifier' source needs a head with an fc layer "
            f'(LinearClsHead); the {owner} has '
            f'{type(getattr(model, "head", None)).__name__}.')
    return fc


@MODELS.register_module()
class ClsDistiller(BaseDistiller):
    """Distil a frozen teacher classifier into a student ``ImageClassifier``.

    ``mode='loss'`` returns the student's own loss (its head's
    cross-entropy, ``loss_cls``) plus one entry per distillation loss
    (mmengine logs their sum as ``loss``); ``predict`` and
    ``tensor`` run the student alone, so validation and ``tools/test.py``
    measure the student and never touch the teacher. Checkpoints hold the
    student (``student.*``) and the losses' trainable parts
    (``distill_losses.*``, e.g. the ISDM scaler) but never the teacher;
    ``tools/export_student.py`` writes the plain student checkpoint.

    Args:
        student: the student's model config (an ``ImageClassifier``).
        teacher: the teacher's model config, or
        teacher_cfg: path of a config file whose ``model`` is the teacher.
        teacher_ckpt: the teacher's checkpoint (loaded on the CPU).
        distill_losses: ``name -> loss config``; each may say its
            ``inputs`` (default ``('student.logits', 'teacher.logits',
            'labels')``), see :class:`BaseDistiller`. Besides those and
            module outputs: ``'sample_idx'`` (the samples' dataset indices,
            (N,) long) and ``'student.classifier'`` /
            ``'teacher.classifier'`` (the heads' ``fc`` layers, for losses
            that classify local features).
        teacher_data_preprocessor: overrides the teacher's data
            preprocessor. By default the teacher normalises the raw batch
            with its own config's (see :class:`BaseDistiller`).
        allow_random_teacher: accept a missing ``teacher_ckpt`` and keep a
            random teacher (smoke tests only); otherwise it is an error.
        teacher_precision: ``'fp32'``, ``'bf16'`` or ``'fp16'``: autocast
            dtype of the teacher's forward (outputs are cast to float32).
        teacher_cache: ``dict(path=..., wrap=False)``: read the teacher's
            logits (and the features its losses read, when the cache holds
            them) from a cache written by ``tools/cache_teacher.py`` (exact
            under the replayed augmentation) instead of running it; the
            teacher is then never built. ``teacher_cfg`` / ``teacher_ckpt``,
            when given, are checked against the cache's manifest.
        views: augmented views per training image (a ``MultiView``
            transform in the training pipeline, e.g. MLKD's weak and strong
            views). The student's cross-entropy is summed over the views;
            the logits of view 0 are ``'student.logits'`` /
            ``'teacher.logits'``, those of view 1 ``'student.logits.view1'``
            / ``'teacher.logits.view1'`` (and so on). Logit losses only.
        data_preprocessor: the student's data preprocessor (mmengine's
            Runner fills it from the config's top-level one).
    """

    BUILTIN_SOURCES = ('student.logits', 'teacher.logits', 'labels',
                       'sample_idx', 'student.classifier',
                       'teacher.classifier',
                       *(f'{who}.logits.view{v}' for v in range(1, 8)
                         for who in ('student', 'teacher')))
    TEACHER_PART_SOURCES = ('teacher.classifier', )
    DEFAULT_INPUTS = BUILTIN_SOURCES[:3]

    def __init__(self,
                 student: dict,
                 teacher: Optional[dict] = None,
                 teacher_cfg: Optional[str] = None,
                 teacher_ckpt: Optional[str] = None,
                 distill_losses: Optional[dict] = None,
                 teacher_data_preprocessor: Optional[dict] = None,
                 allow_random_teacher: bool = False,
                 teacher_precision: str = 'fp32',
                 teacher_cache: Optional[dict] = None,
                 views: int = 1,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None):
        student_model = build_student(student, data_preprocessor, MODELS)
        super().__init__(student_model, teacher, teacher_cfg, teacher_ckpt,
                         distill_losses, MODELS, count_classes(student_model),
                         teacher_data_preprocessor, allow_random_teacher,
                         teacher_precision, teacher_cache,
                         init_cfg=init_cfg)
        self.views = int(views)
        self._check_views()
        if self.views > 1:
            self.data_preprocessor = MultiViewDataPreprocessor(
                self.data_preprocessor, self.views)

    def _check_views(self) -> None:
        """Multi-view training: logit sources only, online teacher; the
        sources of views 1.. only with that many views."""
        used = {s for inputs in self.loss_inputs.values()
                for s in flat_sources(inputs)}
        view_sources = {s for s in used if '.logits.view' in s}
        if self.views == 1 and not view_sources:
            return
        allowed = set(self.DEFAULT_INPUTS) | {
            f'{who}.logits.view{v}' for v in range(1, self.views)
            for who in ('student', 'teacher')}
        if not 1 < self.views <= 8 or used - allowed or \
                self.teacher_cache is not None:
            raise ValueError(
                f'views={self.views}: multi-view training (2 to 8 views) '
                f'takes logit losses on {sorted(allowed)} and the online '
                f'teacher; got sources {sorted(used - allowed)}'
                + (' and a teacher_cache' if self.teacher_cache is not None
                   else '') + '.')

    def loss(self, inputs: Tensor, data_samples: List[DataSample],
             teacher_inputs: Optional[Tensor] = None) -> Dict[str, Tensor]:
        if isinstance(inputs, (list, tuple)):
            return self._multi_view_loss(inputs, data_samples,
                                         teacher_inputs)
        student = self.student
        logits = student.head(student.extract_feat(inputs))
        losses = student_losses(student.head, logits, data_samples)
        cached = {}
        if self.teacher_cache is not None:
            t_logits, cached = self.teacher_cache.lookup(
                data_samples, logits.device, self.teacher_modules)
        else:
            t_inputs = inputs if teacher_inputs is None else teacher_inputs
            t_logits = self.teacher(lambda m, x: m.head(m.extract_feat(x)),
                                    t_inputs)
        losses.update(self.compute_distill_losses({
            'student.logits': logits,
            'teacher.logits': t_logits,
            'labels': batch_labels(data_samples),
            **cached,
            **self._requested_sources(data_samples, logits.device),
        }))
        return losses

    def _multi_view_loss(self, views: List[Tensor], data_samples,
                         teacher_views: Optional[List[Tensor]]) -> Dict:
        """Student and teacher on every view; the cross-entropy summed over
        the views (as MLKD's official code); view v's logits as sources."""
        student = self.student
        t_views = teacher_views or views
        sources = {'labels': batch_labels(data_samples)}
        losses: Dict[str, Tensor] = {}
        for v, (x, t_x) in enumerate(zip(views, t_views)):
            logits = student.head(student.extract_feat(x))
            for k, val in student_losses(student.head, logits,
                                         data_samples).items():
                losses[k] = losses[k] + val if k in losses else val
            suffix = f'.view{v}' if v else ''
            sources['student.logits' + suffix] = logits
            sources['teacher.logits' + suffix] = self.teacher(
                lambda m, t: m.head(m.extract_feat(t)), t_x)
        losses.update(self.compute_distill_losses(sources))
        return losses

    def _requested_sources(self, data_samples, device) -> Dict:
        """The builtin sources beyond logits and labels that a loss reads."""
        need = {s for inputs in self.loss_inputs.values()
                for s in flat_sources(inputs)}
        out = {}
        if 'sample_idx' in need:
            out['sample_idx'] = sample_indices(data_samples, device)
        if 'student.classifier' in need:
            out['student.classifier'] = classifier_of(self.student,
                                                      'student')
        if 'teacher.classifier' in need:
            out['teacher.classifier'] = classifier_of(
                self.teacher.model, 'teacher') if self.teacher is not None \
                else self.teacher_cache.classifier(device)
        return out

    # mmpretrain's ImageClassifier API, delegated to the student.
    def extract_feat(self, inputs: Tensor, stage: str = 'neck'):
        return self.student.extract_feat(inputs, stage)

    def predict(self, inputs: Tensor, data_samples=None, **kwargs):
        return self.student.predict(inputs, data_samples, **kwargs)
