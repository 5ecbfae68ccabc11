"""Progress of the running mmengine training loop, read from the message hub.

Losses and distillers cannot reach the runner; mmengine's
``RuntimeInfoHook`` publishes the loop's state in the current
``MessageHub`` instead:

- ``loop_stage``: ``'train'`` from ``before_train`` to ``after_train``
  (``'val'`` while a validation loop runs inside training);
- ``max_epochs``, ``max_iters``: set ``before_train``;
- ``epoch``: 0-based, set ``before_train`` and before every epoch;
- ``iter``: 0-based count of the iterations of the whole run (resumed ones
  included), set ``before_train`` and before every iteration.

In an ``EpochBasedTrainLoop`` ``max_iters = max_epochs * len(dataloader)``.
An ``IterBasedTrainLoop`` reports ``max_epochs = 1``, keeps ``epoch`` at 0
for the whole run (it treats the run as one big epoch) and publishes no
dataloader length: from those keys alone it looks exactly like a one-epoch
``EpochBasedTrainLoop``, and its epochs (passes over the training data)
cannot be counted. :func:`train_loop_info` therefore finds the loop whose
iteration is running once per run, as the loop on the call stack of the
model's ``train_step`` (``run_iter`` of mmengine's train loops), and keeps its kind
and epoch length in the hub under :data:`TRAIN_LOOP_KEY`; with it
:func:`training_epoch` counts epochs in both loop kinds.
"""
import math
import sys
from typing import NamedTuple, Optional

from mmengine.dataset import InfiniteSampler
from mmengine.logging import MessageHub
from mmengine.runner import (BaseLoop, EpochBasedTrainLoop,
                             IterBasedTrainLoop)

#: message-hub key under which :func:`train_loop_info` keeps the running
#: loop's :class:`TrainLoopInfo`.
TRAIN_LOOP_KEY = 'mmrskd/train_loop'


class TrainLoopInfo(NamedTuple):
    """What the standard message-hub keys do not say about a train loop."""

    #: True for an ``EpochBasedTrainLoop``, False for an ``IterBasedTrainLoop``
    by_epoch: bool
    #: iterations of one pass over the training dataloader (per process)
    iters_per_epoch: Optional[int]


def _hub_info(key: str):
    return MessageHub.get_current_instance().get_info(key, None)


def in_training() -> bool:
    """Whether a training loop is running (``loop_stage`` is ``'train'``)."""
    return _hub_info('loop_stage') == 'train'


def current_epoch() -> Optional[int]:
    """The hub's 0-based ``epoch`` (always 0 in an ``IterBasedTrainLoop``),
    or None when no loop has published one."""
    return _hub_info('epoch')


def current_iter() -> Optional[int]:
    """0-based iteration of the whole run, or None when no loop has
    published one."""
    return _hub_info('iter')


def training_progress() -> float:
    """``iter / max_iters`` of the running loop, in [0, 1] (1.0 outside one);
    the same in both loop kinds."""
    it, total = current_iter(), _hub_info('max_iters')
    if it is None or not total:
        return 1.0
    return min(max(it / total, 0.0), 1.0)


def iters_per_epoch(dataloader) -> Optional[int]:
    """Iterations of one pass over the training data, per process (None
    for data without a length).

    ``len(dataloader)``, except with mmengine's ``InfiniteSampler`` (the
    usual sampler of iteration-based loops), whose length is the whole
    dataset although each of the ``world_size`` processes draws only its
    share of every pass.
    """
    batch_sampler = getattr(dataloader, 'batch_sampler', None)
    sampler = getattr(batch_sampler, 'sampler', None) or getattr(
        dataloader, 'sampler', None)
    batch_size = getattr(dataloader, 'batch_size', None) or getattr(
        batch_sampler, 'batch_size', None)
    if isinstance(sampler, InfiniteSampler) and batch_size:
        share = math.ceil(sampler.size / sampler.world_size)
        return math.ceil(share / batch_size)
    try:
        return len(dataloader)
    except TypeError:  # an iterable dataset without __len__
        return None


def describe_train_loop(loop) -> Optional[TrainLoopInfo]:
    """The :class:`TrainLoopInfo` of an mmengine train loop (None for loops
    of other kinds)."""
    if not isinstance(loop, (EpochBasedTrainLoop, IterBasedTrainLoop)):
        return None
    return TrainLoopInfo(isinstance(loop, EpochBasedTrainLoop),
                         iters_per_epoch(loop.dataloader))


def _loops_on_stack():
    """Every mmengine loop (``BaseLoop``) whose method is on the call stack,
    innermost first: the model's ``train_step`` is called from inside the
    running train loop (mmengine's from ``run_iter``)."""
    frame = sys._getframe(1)
    while frame is not None:
        owner = frame.f_locals.get('self')
        if isinstance(owner, BaseLoop):
            yield owner
        frame = frame.f_back


def _running_train_loop():
    """The mmengine train loop (epoch- or iteration-based) running the
    current iteration, or None."""
    return next((loop for loop in _loops_on_stack() if isinstance(
        loop, (EpochBasedTrainLoop, IterBasedTrainLoop))), None)


def train_loop_info() -> Optional[TrainLoopInfo]:
    """Kind and epoch length of the running train loop (None outside
    training, or when no mmengine train loop is running the iteration).

    Read from the hub under :data:`TRAIN_LOOP_KEY`; the first call of a run
    finds the loop on the call stack and stores it there with
    ``resumed=False``, which keeps it out of checkpoints (torch's
    ``weights_only`` loader would refuse the class): a resumed run finds
    its loop again.
    """
    if not in_training():
        return None
    hub = MessageHub.get_current_instance()
    info = hub.get_info(TRAIN_LOOP_KEY, None)
    if info is None:
        info = describe_train_loop(_running_train_loop())
        if info is not None:
            hub.update_info(TRAIN_LOOP_KEY, info, resumed=False)
    return None if info is None else TrainLoopInfo(*info)


def epochs_countable() -> bool:
    """False while training in a loop whose epochs the hub cannot count:
    ``max_epochs == 1`` (an ``IterBasedTrainLoop``, or a one-epoch run)
    and no :func:`train_loop_info` to tell which. True outside training."""
    if not in_training() or _hub_info('max_epochs') != 1:
        return True
    info = train_loop_info()
    if info is None:
        # no loop on the stack at all: a call outside training (the hub may
        # still say 'train' after a run that raised)
        return next(_loops_on_stack(), None) is None
    return info.by_epoch or bool(info.iters_per_epoch)


def training_epoch() -> Optional[int]:
    """0-based epoch of the run, counted as passes over the training data.

    The hub's ``epoch`` in an ``EpochBasedTrainLoop`` (and outside
    training, as the last loop left it); ``iter // iters_per_epoch`` in an
    ``IterBasedTrainLoop``. Check :func:`epochs_countable` first: without
    :func:`train_loop_info` an iteration-based loop reports epoch 0 for the
    whole run. None when no loop has published an epoch.
    """
    info = train_loop_info()
    if info is not None and not info.by_epoch and info.iters_per_epoch:
        it = current_iter()
        if it is not None:
            return it // info.iters_per_epoch
    return current_epoch()
