"""One raw batch, two normalisations: the student's and the teacher's own.

A teacher trained elsewhere may expect other statistics or another channel
order than the student (e.g. BGR with its own mean/std). The distillers give
it the inputs its own config's data preprocessor makes from the same raw
batch, so inside the distiller it sees exactly what its standalone inference
would. When both preprocessors compute the same thing, the student's inputs
are shared and nothing runs twice.
"""
from typing import Optional

import torch.nn as nn
from mmengine.model import BaseDataPreprocessor
from mmpretrain.registry import MODELS


#: Settings of mmengine/mmpretrain/mmdet image preprocessors that change
#: the ``inputs`` they make (label handling such as ``to_onehot`` does not).
INPUT_SETTINGS = ('to_rgb', '_channel_conversion', '_enable_normalize',
                  'pad_size_divisor', 'pad_value')


def preprocessing_signature(pre: nn.Module) -> tuple:
    """What a data preprocessor does to the images of a raw batch, as
    comparable values: its class, the :data:`INPUT_SETTINGS` it has and its
    buffers (mean, std). Batch augmentations are left out: they are the
    student's training recipe, applied to the inputs both share."""
    settings = tuple((k, getattr(pre, k)) for k in INPUT_SETTINGS
                     if hasattr(pre, k))
    buffers = tuple((k, tuple(b.flatten().tolist()))
                    for k, b in sorted(pre.named_buffers()))
    return type(pre).__name__, settings, buffers


def same_preprocessing(a: nn.Module, b: nn.Module) -> bool:
    """True when ``a`` and ``b`` turn a raw batch into the same inputs."""
    return a is b or preprocessing_signature(a) == preprocessing_signature(b)


@MODELS.register_module()
class DistillDataPreprocessor(BaseDataPreprocessor):
    """Run the student's and the teacher's preprocessors on the same batch.

    During training the output carries ``teacher_inputs`` besides the
    student's ``inputs``/``data_samples``; in validation and test only the
    student's preprocessing runs. The student's batch augmentations (Mixup,
    CutMix) would give the teacher other images than the student, so they
    are refused; the teacher's own are ignored (its preprocessor runs in
    eval mode, as in its standalone inference).

    Args:
        student: the student's data preprocessor (module or config).
        teacher: the teacher's data preprocessor (module or config).
    """

    def __init__(self, student, teacher):
        super().__init__()
        self.student = MODELS.build(student) if isinstance(student, dict) \
            else student
        self.teacher = MODELS.build(teacher) if isinstance(teacher, dict) \
            else teacher
        # The teacher's own batch augmentations (its config's Mixup/CutMix)
        # are its training recipe: its preprocessor runs in eval mode here,
        # where mmpretrain/mmdet never apply them. The student's would mix
        # images the teacher does not see, so they are refused.
        if getattr(self.student, 'batch_augments', None) is not None:
            raise ValueError(
                'The teacher normalises its inputs differently from the '
                'student, which cannot be combined with the student\'s batch '
                'augmentations (Mixup, CutMix): the teacher would see other '
                'images than the student. Give the teacher the student\'s '
                'normalisation (teacher_data_preprocessor=the student\'s) or '
                'drop the batch augmentation.')

    def forward(self, data: dict, training: bool = False) -> dict:
        out = self.student(data, training)
        if training:
            # images only: a teacher preprocessor would otherwise write into
            # the data samples the student shares (e.g. mmpretrain's
            # one-hot gt_score of a teacher trained with Mixup, mmdet's
            # pad shapes)
            images = dict(inputs=data['inputs'], data_samples=None)
            out['teacher_inputs'] = self.teacher(images, False)['inputs']
        return out

    def cast_data(self, data: Optional[dict]):
        return self.student.cast_data(data)


def distill_preprocessor(student: nn.Module, teacher: nn.Module
                         ) -> nn.Module:
    """The student's preprocessor when the teacher's computes the same
    inputs, else a :class:`DistillDataPreprocessor` running both."""
    if same_preprocessing(student, teacher):
        return student
    return DistillDataPreprocessor(student, teacher)


__all__ = ['DistillDataPreprocessor', 'distill_preprocessor',
           'same_preprocessing']
