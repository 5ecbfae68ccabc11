from .ctkd_loss import CTKDLoss, ctkd_loss
from .dist_loss import DISTLoss, dist_loss
from .dkd_loss import DKDLoss, dkd_loss
from .flip_align_loss import FlipAlignLoss, flip_align_loss
from .isdm_loss import InstanceScaler, ISDMLoss, isdm_loss
from .kd_loss import KDLoss, kd_loss
from .mlkd_loss import MLKDLoss, mlkd_loss
from .nkd_loss import NKDLoss, nkd_loss
from .utils import standardize
from .wttm_loss import WTTMLoss, wttm_loss

__all__ = [
    'CTKDLoss', 'ctkd_loss', 'DISTLoss', 'dist_loss', 'DKDLoss', 'dkd_loss',
    'FlipAlignLoss', 'flip_align_loss', 'InstanceScaler', 'ISDMLoss',
    'isdm_loss', 'KDLoss', 'kd_loss', 'MLKDLoss', 'mlkd_loss', 'NKDLoss',
    'nkd_loss', 'standardize', 'WTTMLoss', 'wttm_loss'
]
