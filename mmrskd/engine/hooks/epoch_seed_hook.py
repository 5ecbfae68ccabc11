"""Reseed every epoch from (seed, epoch), so a resumed run draws the same
random numbers as an uninterrupted one."""
from mmengine.hooks import Hook
from mmengine.registry import HOOKS
from mmengine.runner.utils import set_random_seed


@HOOKS.register_module()
class EpochSeedHook(Hook):
    """Seed python, numpy and torch with ``seed + epoch`` before each epoch.

    mmengine seeds once at start-up and does not checkpoint the random
    state, so after ``--resume`` what the main process draws (Mixup, dropout,
    ...) would differ from the uninterrupted run. The augmentation drawn in
    the dataloader workers is replayed per sample by ``ReplaySampler``
    (persistent workers keep their own state across epochs, so reseeding
    cannot reach them). Together a run resumed from an epoch checkpoint ends
    with the same weights. Does nothing when the config has no seed.
    """

    priority = 'VERY_HIGH'

    def before_train_epoch(self, runner) -> None:
        seed = runner.seed
        if seed is None:
            return
        randomness = runner.cfg.get('randomness', {}) or {}
        set_random_seed(seed + runner.epoch,
                        deterministic=randomness.get('deterministic', False),
                        diff_rank_seed=randomness.get('diff_rank_seed',
                                                      False))
