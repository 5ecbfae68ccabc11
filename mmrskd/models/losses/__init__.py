from .dkd_loss import DKDLoss, dkd_loss
from .flip_align_loss import FlipAlignLoss, flip_align_loss
from .isdm_loss import InstanceScaler, ISDMLoss, isdm_loss
from .kd_loss import KDLoss, kd_loss

__all__ = ['FlipAlignLoss', 'flip_align_loss', 'KDLoss', 'kd_loss', 'DKDLoss', 'dkd_loss', 'ISDMLoss',
           'isdm_loss', 'InstanceScaler']
