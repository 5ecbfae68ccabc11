from .dynamic_det_distiller import DynamicDetDistiller
from .losses import CWDLoss, FGDLoss, MGDLoss, PKDLoss
from .dynamic_kd import (gd_level_loss, isd_weights, topk_mean,
                         tsa_weights)

__all__ = ['CWDLoss', 'DynamicDetDistiller', 'FGDLoss', 'MGDLoss', 'PKDLoss',
           'gd_level_loss', 'isd_weights',
           'tsa_weights', 'topk_mean']
