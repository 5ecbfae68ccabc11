from .base_distiller import BaseDistiller
from .cls_distiller import ClsDistiller
from .data_preprocessor import DistillDataPreprocessor
from .teacher import Teacher, TeacherCheckpointError

__all__ = ['BaseDistiller', 'ClsDistiller', 'DistillDataPreprocessor',
           'Teacher', 'TeacherCheckpointError']
