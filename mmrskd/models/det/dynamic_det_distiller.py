"""``DynamicDetDistiller``: dynamic knowledge distillation of mmdet (and
mmrotate) detectors (TGRS, article 5613819) - GD on every FPN level, ISD and
TSA."""
import contextlib
import copy
from typing import Dict, List, Optional

import torch
import torch.nn as nn
from mmdet.models.dense_heads import AnchorHead, FCOSHead, NASFCOSHead
from mmdet.registry import MODELS
from mmdet.structures.bbox import get_box_tensor
from torch import Tensor

from ...utils.progress import training_progress
from ..distillers.base_distiller import BaseDistiller, build_student
from ..distillers.teacher import count_classes
from .anchor_head_adapter import anchor_head_losses
from .fcos_head_adapter import fcos_head_losses
from .roi_head_adapter import roi_head_losses
from .rotated_fcos_head_adapter import rotated_fcos_head_losses
from .dynamic_kd import gd_level_loss, level_strides


@contextlib.contextmanager
def reuse_features(detector: nn.Module, feats):
    """Make ``detector.extract_feat`` return ``feats`` (already computed for
    distillation) inside the block, so its own ``loss`` does not run the
    backbone twice."""
    detector.extract_feat = lambda *_args, **_kwargs: feats
    try:
        yield
    finally:
        del detector.extract_feat


def head_kind(detector: nn.Module) -> Optional[str]:
    """Which per-instance loss adapter fits the detector's head."""
    roi_head = getattr(detector, 'roi_head', None)
    if roi_head is not None and type(roi_head).__name__ == 'StandardRoIHead':
        return 'roi'
    head = getattr(detector, 'bbox_head', None)
    # FCOS itself (and NAS-FCOS); subclasses such as AutoAssign and
    # CondInst decode and assign differently and are refused below.
    if type(head) in (FCOSHead, NASFCOSHead):
        return 'fcos'
    # mmrotate's rotated FCOS itself (not H2RBoxHead), told by its type so
    # that mmrskd imports without mmrotate
    if type(head).__name__ == 'RotatedFCOSHead' and \
            type(head).__module__.startswith('mmrotate.'):
        return 'rotated_fcos'
    if isinstance(head, AnchorHead):
        return 'anchor'
    return None


def _box_coding(detector: nn.Module, kind: str) -> dict:
    """How a head encodes its regression outputs: its box coder's settings
    (and for an RoI head whether it regresses class-agnostically)."""
    head = detector.roi_head.bbox_head if kind == 'roi' else \
        detector.bbox_head
    coder = getattr(head, 'bbox_coder', None)
    coding = {'coder': type(coder).__name__}
    coding.update({k: v for k, v in vars(coder or object()).items()
                   if isinstance(v, (bool, int, float, str, list, tuple))})
    if kind == 'roi':
        coding['reg_class_agnostic'] = head.reg_class_agnostic
    return coding


def check_same_box_coding(student: nn.Module, teacher: nn.Module,
                          kind: Optional[str]) -> None:
    """ISD pulls the student's raw regression outputs towards the
    teacher's (anchor and RoI heads): both must encode boxes the same way."""
    if kind not in ('anchor', 'roi'):
        return
    s, t = _box_coding(student, kind), _box_coding(teacher, kind)
    if s != t:
        diff = {k: (s.get(k), t.get(k)) for k in set(s) | set(t)
                if s.get(k) != t.get(k)}
        raise ValueError(
            f'ISD compares the regression outputs of the student and the '
            f'teacher head directly, but they encode boxes differently '
            f'(setting: (student, teacher)): {diff}. Give both heads the '
            'same bbox_coder (and reg_class_agnostic), or set isd=None.')


@MODELS.register_module()
class DynamicDetDistiller(BaseDistiller):
    """Distil a frozen mmdet detector into a student detector.

    ``L = L_det(student, with TSA) + w_gd * L_GD + w_isd * L_ISD``; each part
    is switched off by setting its config to None (ablations).

    Args:
        student: the student detector config (with an FPN-like neck).
        teacher / teacher_cfg / teacher_ckpt / teacher_data_preprocessor /
            allow_random_teacher / teacher_precision: as
            :class:`ClsDistiller`.
        gd: GD settings (``k_fg`` 0.5, ``k_bg`` 0.1, ``w_fg``, ``w_bg``,
            ``tau`` 0.5, ``loss_weight`` 1) or None.
        isd: ISD settings (``tau_w`` 1, ``loss_weight`` 1; ``cls_weight``
            and ``box_weight``, 1 each, weigh its score and box imitation)
            or None.
        tsa: TSA settings (``gamma_max`` 1, ``eta`` 1) or None.
        distill_losses: extra losses wired as in :class:`BaseDistiller`
            (sources ``student.<module>``, ``teacher.<module>``, e.g.
            ``'student.neck'`` for the FPN levels, and ``'gt_bboxes'``
            (the batch's boxes, a list of (n_i, 4) xyxy tensors in input
            pixels, (n_i, 5) ``(cx, cy, w, h, theta)`` for mmrotate's
            oriented boxes) and ``'batch_input_shape'`` (the padded input's
            (H, W))): the feature baselines (FGD, PKD, CWD, MGD), alone
            (``gd=isd=tsa=None``) or next to GD/ISD/TSA.

    ISD and TSA need per-positive losses from the head's own assigner:
    implemented for anchor-based dense heads (RetinaNet, mmrotate's rotated
    RetinaNet), FCOS, mmrotate's ``RotatedFCOSHead`` (the angle imitated and
    TSA-weighted with the box) and the two-stage ``StandardRoIHead`` (Faster
    R-CNN, Oriented R-CNN: the RPN keeps its own loss, ISD/TSA act on the
    sampled RoIs, the teacher's RoI head scoring the student's RoIs); other
    heads are refused with ISD/TSA.
    """

    BUILTIN_SOURCES = ('gt_bboxes', 'batch_input_shape')

    def __init__(self, student: dict, teacher: Optional[dict] = None,
                 teacher_cfg: Optional[str] = None,
                 teacher_ckpt: Optional[str] = None,
                 gd: Optional[dict] = dict(),
                 isd: Optional[dict] = dict(),
                 tsa: Optional[dict] = dict(),
                 distill_losses: Optional[dict] = None,
                 teacher_data_preprocessor: Optional[dict] = None,
                 allow_random_teacher: bool = False,
                 teacher_precision: str = 'fp32',
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None):
        student_model = build_student(student, data_preprocessor, MODELS)
        super().__init__(student_model, teacher, teacher_cfg, teacher_ckpt,
                         distill_losses, MODELS,
                         count_classes(student_model),
                         teacher_data_preprocessor, allow_random_teacher,
                         teacher_precision, init_cfg=init_cfg)
        self.gd = None if gd is None else dict(gd)
        self.isd = None if isd is None else dict(isd)
        self.tsa = None if tsa is None else dict(tsa)
        self._head_kind = head_kind(student_model)
        if (self.isd is not None or self.tsa is not None) and \
                self._head_kind is None:
            head = getattr(student_model, 'bbox_head', None) or getattr(
                student_model, 'roi_head', student_model)
            raise NotImplementedError(
                'ISD and TSA are implemented for anchor-based dense heads '
                '(RetinaNet), FCOS, RotatedFCOSHead and StandardRoIHead; this '
                f'student has {type(head).__name__}. Set isd=None and '
                'tsa=None to distil it with GD only.')
        if self.isd is not None:
            check_same_box_coding(student_model, self.teacher.model,
                                  self._head_kind)
        self.gd_connectors = nn.ModuleList()
        if self.gd is not None:
            self._build_gd_connectors(student_model)

    def _build_gd_connectors(self, student_model: nn.Module) -> None:
        """One 1x1 connector per FPN level, student -> teacher channels."""
        s_neck = getattr(student_model, 'neck', None)
        t_neck = getattr(self.teacher.model, 'neck', None)
        if s_neck is None or t_neck is None:
            raise ValueError('GD needs an FPN neck in the student and '
                             'the teacher.')
        levels = getattr(s_neck, 'num_outs', None)
        if levels != getattr(t_neck, 'num_outs', None):
            raise ValueError(
                f'Student and teacher necks have {levels} and '
                f'{getattr(t_neck, "num_outs", None)} levels: GD pairs '
                'them level by level.')
        for _ in range(levels):
            self.gd_connectors.append(nn.Conv2d(
                s_neck.out_channels, t_neck.out_channels, 1))

    def predict(self, inputs, data_samples, **kwargs):
        return self.student.predict(inputs, data_samples, **kwargs)

    def loss(self, inputs: Tensor, data_samples,
             teacher_inputs: Optional[Tensor] = None) -> Dict[str, Tensor]:
        student = self.student
        feats = student.extract_feat(inputs)
        t_inputs = inputs if teacher_inputs is None else teacher_inputs
        if t_inputs.shape[-2:] != inputs.shape[-2:]:
            raise ValueError(
                f'The teacher\'s data preprocessor pads the batch to '
                f'{tuple(t_inputs.shape[-2:])}, the student\'s to '
                f'{tuple(inputs.shape[-2:])}: the FPN levels would not '
                'align. Give both the same pad_size_divisor.')
        t_feats = self.teacher('extract_feat', t_inputs)
        losses: Dict[str, Tensor] = {}
        if self._head_kind == 'roi' and (self.isd is not None or
                                         self.tsa is not None):
            losses.update(self._two_stage_losses(feats, t_feats,
                                                 data_samples))
        elif self._head_kind and (self.isd is not None or
                                  self.tsa is not None):
            outs_s = student.bbox_head(feats)
            outs_t = None
            if self.isd is not None:
                outs_t = self.teacher(lambda m, f: m.bbox_head(f), t_feats)
            if self._head_kind == 'anchor':
                losses.update(anchor_head_losses(
                    student.bbox_head, *outs_s, data_samples,
                    *(outs_t or (None, None)), self.isd, self.tsa,
                    training_progress()))
            else:
                adapter = fcos_head_losses if self._head_kind == 'fcos' \
                    else rotated_fcos_head_losses
                losses.update(adapter(
                    student.bbox_head, outs_s, data_samples, outs_t,
                    self.isd, self.tsa, training_progress(),
                    t_head=self.teacher.model.bbox_head))
        else:
            with reuse_features(student, feats):
                losses.update(student.loss(inputs, data_samples))
        if self.gd is not None:
            losses['loss_gd'] = self._gd_loss(feats, t_feats, data_samples)
        losses.update(self.compute_distill_losses({
            'gt_bboxes': gt_boxes(data_samples),
            'batch_input_shape': tuple(inputs.shape[-2:])}))
        return losses

    def _two_stage_losses(self, feats, t_feats, data_samples):
        """RPN loss as mmdet's ``TwoStageDetector.loss``, RoI losses with
        ISD/TSA."""
        student = self.student
        proposal_cfg = student.train_cfg.get('rpn_proposal',
                                             student.test_cfg.rpn)
        rpn_samples = copy.deepcopy(data_samples)
        for s in rpn_samples:
            s.gt_instances.labels = torch.zeros_like(s.gt_instances.labels)
        rpn_losses, proposals = student.rpn_head.loss_and_predict(
            feats, rpn_samples, proposal_cfg=proposal_cfg)
        losses = {(f'rpn_{k}' if 'loss' in k and 'rpn' not in k else k): v
                  for k, v in rpn_losses.items()}
        losses.update(roi_head_losses(
            student.roi_head, feats, proposals, data_samples,
            self.teacher.model.roi_head, t_feats, self.isd, self.tsa,
            training_progress()))
        return losses

    def _gd_loss(self, feats, t_feats, data_samples) -> Tensor:
        cfg = dict(self.gd)
        weight = cfg.pop('loss_weight', 1.0)
        boxes = gt_boxes(data_samples)
        shape = data_samples[0].metainfo['batch_input_shape']
        strides = level_strides(shape, feats)
        total = feats[0].new_zeros(())
        for conn, fs, ft, stride in zip(self.gd_connectors, feats, t_feats,
                                        strides):
            total = total + gd_level_loss(conn(fs), ft, boxes, stride, **cfg)
        return weight * total


def gt_boxes(data_samples) -> List[Tensor]:
    """The ground-truth boxes of each image, (n_i, 4) xyxy tensors, or
    (n_i, 5) oriented ones (mmrotate's ``RotatedBoxes``)."""
    return [get_box_tensor(s.gt_instances.bboxes) for s in data_samples]
