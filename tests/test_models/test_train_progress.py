"""Training progress read from mmengine's message hub (mmrskd.utils.progress)
and DKD's warm-up under real mmengine runners with an EpochBasedTrainLoop
and an IterBasedTrainLoop."""
import math
import uuid

import pytest
import torch
import torch.nn as nn
from mmengine.dataset import InfiniteSampler
from mmengine.logging import MessageHub
from mmengine.model import BaseModel
from mmengine.runner import BaseLoop, Runner
from torch.utils.data import DataLoader

import mmrskd  # noqa: F401
from mmrskd.models.losses import DKDLoss
from mmrskd.utils import (TRAIN_LOOP_KEY, TrainLoopInfo, epochs_countable,
                          iters_per_epoch, training_epoch, training_progress)

ITERS_PER_EPOCH = 2  # 4 samples, batch 2


@pytest.fixture(autouse=True)
def _fresh_hub():
    """Each test, and whatever runs after it, starts from an empty hub (a
    run stopped by an error leaves its hub current, in 'train' stage)."""
    MessageHub.get_instance(f'progress-{uuid.uuid4().hex}')
    yield
    MessageHub.get_instance(f'progress-{uuid.uuid4().hex}')


# ------------------------------------------------------------- the hub
def test_training_progress_is_iter_over_max_iters():
    assert training_progress() == 1.0  # outside a loop
    hub = MessageHub.get_current_instance()
    hub.update_info('max_iters', 40)
    for it, p in ((0, 0.0), (10, 0.25), (39, 39 / 40), (80, 1.0)):
        hub.update_info('iter', it)
        assert training_progress() == pytest.approx(p)


def test_training_epoch_by_loop_kind():
    hub = MessageHub.get_current_instance()
    assert training_epoch() is None and epochs_countable()
    hub.update_info_dict(dict(loop_stage='train', epoch=0, iter=7,
                              max_epochs=1, max_iters=20))
    # one epoch reported but no loop iteration on the stack: a call outside
    # training (a crashed run can leave the hub saying 'train')
    assert epochs_countable()
    # described (as train_loop_info does) as an IterBasedTrainLoop
    hub.update_info(TRAIN_LOOP_KEY, TrainLoopInfo(False, 3))
    assert epochs_countable() and training_epoch() == 7 // 3
    hub.update_info(TRAIN_LOOP_KEY, TrainLoopInfo(True, 20))
    assert epochs_countable() and training_epoch() == 0
    hub.update_info_dict(dict(epoch=4, max_epochs=6))
    hub.pop_info(TRAIN_LOOP_KEY)
    assert epochs_countable() and training_epoch() == 4


def test_iters_per_epoch_counts_each_process_share():
    data = list(range(10))
    assert iters_per_epoch(DataLoader(data, batch_size=3)) == 4
    sampler = InfiniteSampler(data, shuffle=False)
    sampler.world_size = 2  # as in a 2-process run: 5 samples each
    loader = DataLoader(data, batch_size=2, sampler=sampler)
    assert len(loader) == 5  # InfiniteSampler's length: the whole dataset
    assert iters_per_epoch(loader) == math.ceil(5 / 2)


# ------------------------------------------------- DKD under a Runner
class _RecordingDKD(DKDLoss):
    """DKDLoss that records the warm-up factor of every call."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.factors = []

    def warmup_factor(self, *args, **kwargs) -> float:
        factor = super().warmup_factor(*args, **kwargs)
        self.factors.append(factor)
        return factor


class _Probe(BaseModel):
    """A linear classifier trained with DKD against a fixed teacher."""

    def __init__(self, dkd: DKDLoss):
        super().__init__()
        self.linear = nn.Linear(4, 3)
        self.dkd = dkd

    def forward(self, inputs, labels, mode='loss'):
        logits = self.linear(inputs)
        teacher = torch.arange(3.).expand_as(logits)
        return dict(loss_dkd=self.dkd(logits, teacher, labels))


class _OneEpochLoop(BaseLoop):
    """A loop of its own kind that, like an IterBasedTrainLoop, reports the
    run as one epoch."""
    max_epochs, epoch = 1, 0

    def __init__(self, runner, dataloader, max_iters: int):
        super().__init__(runner, dataloader)
        self.max_iters, self.iter = max_iters, 0

    def run(self):
        self.runner.call_hook('before_train')
        self.runner.call_hook('before_train_epoch')
        for data in self.dataloader:
            self.runner.call_hook('before_train_iter', batch_idx=self.iter,
                                  data_batch=data)
            self.runner.model.train_step(
                data, optim_wrapper=self.runner.optim_wrapper)
            self.iter += 1
        self.runner.call_hook('after_train_epoch')
        self.runner.call_hook('after_train')


def _train(tmp_path, dkd: DKDLoss, train_cfg: dict, checkpoint=None):
    data = [dict(inputs=torch.randn(4), labels=torch.tensor(i % 3))
            for i in range(2 * ITERS_PER_EPOCH)]
    sampler = (dict(type=InfiniteSampler, shuffle=False)
               if train_cfg.get('by_epoch') is False else
               dict(type='DefaultSampler', shuffle=False))
    runner = Runner(
        model=_Probe(dkd), work_dir=str(tmp_path),
        experiment_name=f'dkd-{uuid.uuid4().hex}',
        train_dataloader=dict(dataset=data, sampler=sampler, batch_size=2,
                              collate_fn=dict(type='default_collate')),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
        train_cfg=train_cfg, default_hooks=dict(checkpoint=checkpoint))
    runner.train()
    return dkd.factors


def test_dkd_warmup_iters_in_iter_based_loop(tmp_path):
    factors = _train(tmp_path, _RecordingDKD(warmup_iters=4),
                     dict(by_epoch=False, max_iters=6))
    assert factors == pytest.approx([1 / 4, 2 / 4, 3 / 4, 1, 1, 1])


def test_dkd_warmup_epochs_in_iter_based_loop_counts_passes(tmp_path):
    factors = _train(tmp_path, _RecordingDKD(warmup_epochs=3),
                     dict(by_epoch=False, max_iters=8),
                     checkpoint=dict(type='CheckpointHook', by_epoch=False,
                                     interval=8))
    # epoch = iter // 2 (4 samples, batch 2)
    assert factors == pytest.approx([1 / 3, 1 / 3, 2 / 3, 2 / 3, 1, 1, 1, 1])
    # the loop's description stays out of checkpoints: they still load
    # with torch's weights_only loader (a resumed run finds the loop again)
    ckpt = torch.load(tmp_path / 'iter_8.pth', weights_only=True)
    assert ckpt['message_hub']['runtime_info']['iter'] == 7
    assert TRAIN_LOOP_KEY not in ckpt['message_hub']['runtime_info']


def test_dkd_warmup_epochs_in_epoch_based_loop_as_before(tmp_path):
    factors = _train(tmp_path, _RecordingDKD(warmup_epochs=4),
                     dict(by_epoch=True, max_epochs=3))
    # min((epoch + 1) / 4, 1), epoch 0-based, 2 iterations per epoch
    assert factors == pytest.approx([1 / 4, 1 / 4, 2 / 4, 2 / 4, 3 / 4, 3 / 4])
    # one epoch looks like an IterBasedTrainLoop in the hub: as before too
    assert _train(tmp_path, _RecordingDKD(warmup_epochs=3),
                  dict(by_epoch=True, max_epochs=1)) == pytest.approx(
                      [1 / 3, 1 / 3])


def test_dkd_warmup_epochs_in_unknown_one_epoch_loop_raises(tmp_path):
    dkd = _RecordingDKD(warmup_epochs=3)
    with pytest.raises(ValueError, match=(
            r'DKDLoss: cannot count warmup_epochs=3 in this training loop: '
            r'it reports max_epochs=1 .*would stay at 1/3\. Set '
            r'warmup_iters')):
        _train(tmp_path, dkd, dict(type=_OneEpochLoop, max_iters=2))
    assert dkd.factors == []  # raised at the first iteration
    # a warm-up of one epoch or none is 1 in any loop
    for epochs in (0, 1):
        MessageHub.get_instance(f'progress-{uuid.uuid4().hex}')
        assert _train(tmp_path, _RecordingDKD(warmup_epochs=epochs),
                      dict(type=_OneEpochLoop, max_iters=2)) == [1, 1]
