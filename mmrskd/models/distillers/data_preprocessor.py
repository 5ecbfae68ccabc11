"""Separate preprocessing for a teacher trained with other statistics."""
from typing import Optional

from mmengine.model import BaseDataPreprocessor
from mmpretrain.registry import MODELS


@MODELS.register_module()
class DistillDataPreprocessor(BaseDataPreprocessor):
    """Run the student's and the teacher's preprocessors on the same batch.

    During training the output carries ``teacher_inputs`` besides the
    student's ``inputs``/``data_samples``; in validation and test only the
    student's preprocessing runs. Batch augmentations (Mixup, CutMix) would
    give the teacher other images than the student, so they are refused.
    """

    def __init__(self, student, teacher: dict):
        super().__init__()
        self.student = MODELS.build(student) if isinstance(student, dict) \
            else student
        self.teacher = MODELS.build(teacher)
        for name, pre in (('student', self.student),
                          ('teacher', self.teacher)):
            if getattr(pre, 'batch_augments', None) is not None:
                raise ValueError(
                    f'teacher_data_preprocessor cannot be combined with batch '
                    f'augmentations (found on the {name} preprocessor): the '
                    'teacher would see other images than the student.')

    def forward(self, data: dict, training: bool = False) -> dict:
        out = self.student(data, training)
        if training:
            out['teacher_inputs'] = self.teacher(data, False)['inputs']
        return out

    def cast_data(self, data: Optional[dict]):
        return self.student.cast_data(data)
