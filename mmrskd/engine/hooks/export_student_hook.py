"""Write the plain student checkpoint when training ends."""
import os.path as osp
from typing import Optional

from mmengine.hooks import Hook
from mmengine.registry import HOOKS

from ...apis.export import export_student


@HOOKS.register_module()
class ExportStudentHook(Hook):
    """After training, export the last checkpoint's student.

    Writes ``<work_dir>/<filename>`` (default ``student_final.pth``), the
    result of the run, that plain mmpretrain/mmdet load with the student's
    own config. Also exports the best checkpoint as ``student_best.pth``
    when the CheckpointHook kept one (``save_best``, off by default). The
    best checkpoint should be selected on a validation split
    (``val_ratio`` and ``split='val'`` of the scene datasets); when the
    validation loader reads the test split, a warning says that
    ``student_best.pth`` was selected on the test images.
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
            if _selected_on_test_split(runner):
                runner.logger.warning(
                    f'ExportStudentHook: the best checkpoint {best} was '
                    "selected on the test split (val_dataloader.dataset."
                    "split='test'), so its test accuracy is optimistic; "
                    'report student_final.pth, or select on a validation '
                    'split: val_ratio=0.1 on the train and val datasets and '
                    "val_dataloader.dataset.split='val' (README, \"Model "
                    'selection").')


def _selected_on_test_split(runner) -> bool:
    """Whether the validation loop reads an on-the-fly test split."""
    loop = runner.val_loop
    dataset = getattr(getattr(loop, 'dataloader', None), 'dataset', None)
    return (getattr(dataset, 'split', None) == 'test'
            and not getattr(dataset, 'ann_file', ''))
