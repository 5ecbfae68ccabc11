"""Write the plain student checkpoint when training ends."""
import os.path as osp
from typing import Optional

from mmengine.hooks import Hook
from mmengine.registry import HOOKS

from ...apis.export import export_student


@HOOKS.register_module()
class ExportStudentHook(Hook):
    """After training, export the last checkpoint's student.

    Writes ``<work_dir>/<filename>`` (default ``student_final.pth``) that
    plain mmpretrain/mmdet load with the student's own config. Also exports
    the best checkpoint as ``student_best.pth`` when the CheckpointHook kept
    one (``save_best``).
    """

    priority = 'VERY_LOW'

    def __init__(self, filename: str = 'student_final.pth',
                 export_best: bool = True):
        self.filename = filename
        self.export_best = export_best

    def after_train(self, runner) -> None:
        if runner.rank != 0:
            return
        last = osp.join(runner.work_dir, 'last_checkpoint')
        if not osp.isfile(last):
            runner.logger.warning('ExportStudentHook: no checkpoint saved, '
                                  'nothing exported.')
            return
        with open(last) as f:
            src = f.read().strip()
        dst = export_student(src, osp.join(runner.work_dir, self.filename))
        runner.logger.info(f'Exported the student of {src} to {dst}')
        best: Optional[str] = runner.message_hub.get_info('best_ckpt')
        if self.export_best and best and osp.isfile(best):
            dst = export_student(best, osp.join(runner.work_dir,
                                                'student_best.pth'))
            runner.logger.info(f'Exported the best student to {dst}')
