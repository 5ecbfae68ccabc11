"""Write a training run's progress to a JSON-lines file, for a front end
that runs ``tools/train.py`` in a subprocess (``tools/demo.py``)."""
import json
import os
import os.path as osp
import time
from typing import Dict, Optional

from mmengine.dist import is_main_process
from mmengine.hooks import Hook
from mmengine.registry import HOOKS


@HOOKS.register_module()
class ProgressRecordHook(Hook):
    """Append one JSON object per line to ``path`` as the run progresses.

    Every record has ``event`` (``'start'``, ``'iter'``, ``'val'`` or
    ``'end'``), ``epoch`` (1-based epoch running or just finished),
    ``max_epochs``, ``iter`` (iterations done), ``max_iters``, ``loss``
    (mean training loss of the current epoch so far, None before its
    first iteration), ``top1`` (the last validation's ``accuracy/top1``,
    None before the first one), ``elapsed`` and ``eta`` (seconds, ``eta``
    from the pace of the iterations this process ran). The file is
    truncated at the start of the run and flushed after every record, so a
    reader can follow it while the run goes on; mmengine's own log is
    unchanged.

    Args:
        path (str): the JSON-lines file to write (a relative path is
            relative to the run's work directory).
        interval (int): write an ``'iter'`` record every ``interval``
            iterations (the last iteration of an epoch always writes one).
        metric (str): the validation metric reported as ``top1``.
    """

    priority = 'LOW'

    def __init__(self, path: str, interval: int = 1,
                 metric: str = 'accuracy/top1'):
        if interval < 1:
            raise ValueError(f'ProgressRecordHook: interval must be >= 1, '
                             f'got {interval}.')
        self.path = path
        self.interval = interval
        self.metric = metric
        self._file = path
        self._start = 0.0
        self._start_iter = 0
        self._loss_sum = 0.0
        self._loss_count = 0
        self._top1: Optional[float] = None

    def before_train(self, runner) -> None:
        self._start = time.time()
        self._start_iter = runner.iter  # > 0 after --resume
        # osp.join keeps an absolute path as it is
        self._file = osp.join(runner.work_dir, self.path)
        if is_main_process():
            os.makedirs(osp.dirname(self._file), exist_ok=True)
            open(self._file, 'w').close()
        self._write(runner, 'start')

    def before_train_epoch(self, runner) -> None:
        self._loss_sum, self._loss_count = 0.0, 0

    def after_train_iter(self, runner, batch_idx: int, data_batch=None,
                         outputs: Optional[Dict] = None) -> None:
        if outputs and 'loss' in outputs:
            self._loss_sum += float(outputs['loss'])
            self._loss_count += 1
        if (self.every_n_train_iters(runner, self.interval)
                or self.end_of_epoch(runner.train_dataloader, batch_idx)):
            self._write(runner, 'iter')

    def after_val_epoch(self, runner, metrics: Optional[Dict] = None) -> None:
        if metrics and self.metric in metrics:
            self._top1 = float(metrics[self.metric])
        self._write(runner, 'val')

    def after_train(self, runner) -> None:
        self._write(runner, 'end')

    def _write(self, runner, event: str) -> None:
        if not is_main_process() or not self._start:
            return  # (a validation run outside training has no progress)
        # mmengine advances runner.iter after the after_train_iter hooks and
        # runner.epoch after the after_train_epoch hooks (so during epoch k,
        # 1-based, runner.epoch is k - 1; during its validation it is k).
        done = runner.iter + (event == 'iter')
        total = runner.max_iters
        elapsed = time.time() - self._start
        ran = done - self._start_iter
        eta = elapsed / ran * max(total - done, 0) if ran > 0 else None
        epoch = runner.epoch + (event in ('start', 'iter'))
        record = dict(
            event=event, epoch=min(max(epoch, 1), runner.max_epochs),
            max_epochs=runner.max_epochs, iter=done, max_iters=total,
            loss=(self._loss_sum / self._loss_count
                  if self._loss_count else None),
            top1=self._top1, elapsed=round(elapsed, 2),
            eta=None if eta is None else round(eta, 2))
        with open(self._file, 'a') as f:
            f.write(json.dumps(record) + '\n')
