from .cpu_ops_check_hook import CPUOpsCheckHook
from .epoch_seed_hook import EpochSeedHook
from .export_student_hook import ExportStudentHook
from .nan_guard_hook import NaNGuardHook, NonFiniteLossError
from .progress_record_hook import ProgressRecordHook
from .split_check_hook import SplitCheckHook

__all__ = ['CPUOpsCheckHook', 'EpochSeedHook', 'ExportStudentHook',
           'NaNGuardHook', 'NonFiniteLossError', 'ProgressRecordHook',
           'SplitCheckHook']
