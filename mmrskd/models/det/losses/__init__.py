"""Detection feature-distillation baselines (mmdet registry), used through
``DynamicDetDistiller(distill_losses=...)``."""
from .cwd_loss import CWDLoss, cwd_loss
from .fgd_loss import FGDLoss
from .mgd_loss import MGDLoss, mgd_loss
from .pkd_loss import PKDLoss, pkd_loss

__all__ = ['CWDLoss', 'cwd_loss', 'FGDLoss', 'MGDLoss', 'mgd_loss',
           'PKDLoss', 'pkd_loss']
