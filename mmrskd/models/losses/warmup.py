"""The linear warm-up of a distillation loss (DKD, SD-DKD, ReviewKD), read
from the running training loop (:mod:`mmrskd.utils.progress`)."""
from typing import Optional

from ...utils.progress import current_iter, epochs_countable, training_epoch


def linear_warmup(owner: str, warmup_epochs: int,
                  warmup_iters: Optional[int] = None,
                  epoch: Optional[int] = None,
                  iteration: Optional[int] = None) -> float:
    """``min((step + 1) / length, 1)`` for a 0-based ``step``; 1 without a
    ramp (length 0) or outside a loop.

    With ``warmup_iters`` set the step is ``iteration`` (by default the
    run's iteration) and the length ``warmup_iters``; otherwise ``epoch``
    (by default :func:`training_epoch`) and ``warmup_epochs``. A loop whose
    epochs cannot be counted is an error (naming ``owner``) for a warm-up
    longer than one epoch, rather than a factor held at
    ``1 / warmup_epochs`` for the whole run.
    """
    if warmup_iters is not None:
        step = current_iter() if iteration is None else iteration
        return _ramp(step, warmup_iters)
    if epoch is None:
        if warmup_epochs > 1 and not epochs_countable():
            raise ValueError(
                f'{owner}: cannot count warmup_epochs={warmup_epochs} in '
                'this training loop: it reports max_epochs=1 and epoch 0 for '
                'the whole run, as an IterBasedTrainLoop does, and is not '
                'one of mmengine\'s EpochBasedTrainLoop/IterBasedTrainLoop, '
                'whose epoch length mmrskd reads, so the warm-up would stay '
                f'at 1/{warmup_epochs}. Set warmup_iters (the warm-up length '
                f'in iterations) in the {owner} config, or warmup_epochs=0 '
                'to train without a warm-up.')
        epoch = training_epoch()
    return _ramp(epoch, warmup_epochs)


def _ramp(step: Optional[int], length: int) -> float:
    """``min((step + 1) / length, 1)`` for a 0-based ``step``; 1 without a
    ramp (``length`` 0) or outside a loop (``step`` None)."""
    if not length or step is None:
        return 1.0
    return min((step + 1) / length, 1.0)
