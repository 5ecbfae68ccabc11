"""Stop (or skip the batch) when a training loss turns NaN or infinite."""
import os.path as osp
from typing import Optional

import torch
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.registry import HOOKS


class NonFiniteLossError(RuntimeError):
    """A training loss became NaN or infinite."""


@HOOKS.register_module()
class NaNGuardHook(Hook):
    """Check every loss of every training iteration before the update.

    Wraps the model's ``parse_losses`` (which runs between the forward pass
    and the optimizer update, also under DDP). On a NaN/inf loss:

    - ``action='stop'`` (default): raise :class:`NonFiniteLossError` naming
      the loss(es), the iteration and the last good checkpoint, before the
      weights are touched, so ``--resume`` continues from that checkpoint;
    - ``action='skip'``: log a warning and skip the update of that batch
      (no gradient reaches the parameters, the optimizer state is kept;
      BatchNorm running statistics still saw the batch's forward pass).
      Single-process only: under DDP the ranks would disagree, so 'stop'
      is required there.
    """

    priority = 'VERY_HIGH'

    def __init__(self, action: str = 'stop'):
        if action not in ('stop', 'skip'):
            raise ValueError(f"NaNGuardHook: action must be 'stop' or "
                             f"'skip', got {action!r}.")
        self.action = action
        self.skipped = 0

    def before_train(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) \
            else runner.model
        if self.action == 'skip' and runner.world_size > 1:
            raise ValueError("NaNGuardHook(action='skip') cannot be used "
                             "with several processes; use action='stop'.")
        original = model.parse_losses

        def guarded(losses):
            bad = {}
            for name, value in losses.items():
                values = value if isinstance(value, (list, tuple)) else [
                    value]
                for v in values:
                    if torch.is_tensor(v) and not torch.isfinite(v).all():
                        bad[name] = float(v.detach().float().sum())
            if not bad:
                return original(losses)
            return self._on_bad(runner, losses, bad, original)

        model.parse_losses = guarded

    def _on_bad(self, runner, losses, bad, original):
        where = (f'at iteration {runner.iter + 1} (epoch {runner.epoch + 1})')
        names = ', '.join(f'"{k}" = {v}' for k, v in bad.items())
        if self.action == 'stop':
            raise NonFiniteLossError(
                f'Non-finite loss {names} {where}. Last good checkpoint: '
                f'{self._last_checkpoint(runner) or "none saved yet"}. Lower '
                'the learning rate or the loss weights, check the data, then '
                'resume with --resume.')
        self.skipped += 1
        runner.logger.warning(f'NaNGuardHook: skipped the update {where}: '
                              f'non-finite loss {names}.')
        finite = {k: v for k, v in losses.items() if k not in bad}
        _, log_vars = original(finite) if finite else (None, {})
        log_vars = dict(log_vars)
        # a leaf with no graph: backward reaches no parameter, so the
        # optimizer step leaves every weight and its state unchanged
        return torch.zeros((), requires_grad=True), log_vars

    @staticmethod
    def _last_checkpoint(runner) -> Optional[str]:
        path = osp.join(runner.work_dir, 'last_checkpoint')
        if osp.isfile(path):
            with open(path) as f:
                return f.read().strip()
        return None
