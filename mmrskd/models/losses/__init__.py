from .at_loss import ATLoss, at_loss
from .crd_loss import CRDLoss, crd_loss
from .ctkd_loss import CTKDLoss, ctkd_loss
from .dist_loss import DISTLoss, dist_loss
from .dkd_loss import DKDLoss, dkd_loss
from .fitnet_loss import FitNetLoss, fitnet_loss
from .flip_align_loss import FlipAlignLoss, flip_align_loss
from .isdm_loss import ISDMLoss, isdm_loss
from .isdm_terms import InstanceScaler
from .kd_loss import KDLoss, kd_loss
from .mlkd_loss import MLKDLoss, mlkd_loss
from .nkd_loss import NKDLoss, nkd_loss
from .reviewkd_loss import ReviewKDLoss, hcl_loss
from .rkd_loss import RKDLoss, rkd_loss
from .sdd_loss import SDDLoss, sdd_loss
from .utils import standardize
from .wttm_loss import WTTMLoss, wttm_loss

__all__ = [
    'at_loss', 'ATLoss', 'crd_loss', 'CRDLoss', 'ctkd_loss', 'CTKDLoss',
    'dist_loss', 'DISTLoss', 'dkd_loss', 'DKDLoss', 'fitnet_loss',
    'FitNetLoss', 'flip_align_loss', 'FlipAlignLoss', 'hcl_loss',
    'InstanceScaler', 'isdm_loss', 'ISDMLoss', 'kd_loss', 'KDLoss',
    'mlkd_loss', 'MLKDLoss', 'nkd_loss', 'NKDLoss', 'ReviewKDLoss', 'rkd_loss',
    'RKDLoss', 'sdd_loss', 'SDDLoss', 'standardize', 'wttm_loss', 'WTTMLoss'
]
