"""An epoch-based training loop that also resumes from a checkpoint written
within an epoch."""
from mmengine.registry import LOOPS
from mmengine.runner import EpochBasedTrainLoop


@LOOPS.register_module()
class ResumableEpochBasedTrainLoop(EpochBasedTrainLoop):
    """mmengine's ``EpochBasedTrainLoop`` that resumes mid-epoch.

    A ``CheckpointHook`` with ``by_epoch=False`` beside the epoch one writes
    ``iter_<n>.pth`` within epochs (so a killed run loses little), but
    mmengine resumes such a checkpoint by restoring its iteration count and
    starting its epoch again from the first batch: the batches trained
    before the checkpoint are trained twice and the run ends past
    ``max_iters`` (an iteration-based schedule has ended by then). This loop
    skips them instead: in the resumed epoch, the first ``iter - epoch *
    len(dataloader)`` batches are drawn (in the order the sampler's seed and
    epoch fix, so the rest are the batches the interrupted run would have
    trained next) but neither trained on nor shown to the hooks. Anywhere
    else (a fresh run, a resume from an epoch checkpoint) it is
    ``EpochBasedTrainLoop``.

    Usage: ``train_cfg = dict(type='ResumableEpochBasedTrainLoop',
    max_epochs=..)``, with ``default_hooks.iter_checkpoint = dict(
    type='CheckpointHook', by_epoch=False, interval=50, max_keep_ckpts=2,
    save_last=False)``.
    """

    def run_epoch(self) -> None:
        """Iterate one epoch, or the rest of a resumed one."""
        done = self._iter - self._epoch * len(self.dataloader)
        if not 0 < done <= len(self.dataloader):
            super().run_epoch()
            return
        self.runner.logger.info(
            f'Resuming epoch {self._epoch + 1} after its batch {done}: '
            f'skipping the {done} batches trained before the checkpoint.')
        self.runner.call_hook('before_train_epoch')
        self.runner.model.train()
        for idx, data_batch in enumerate(self.dataloader):
            if idx >= done:
                self.run_iter(idx, data_batch)
        self.runner.call_hook('after_train_epoch')
        self._epoch += 1
