from .dynamic_det_distiller import DynamicDetDistiller
from .dynamic_kd import (gd_level_loss, isd_weights, topk_mean,
                         tsa_weights)

__all__ = ['DynamicDetDistiller', 'gd_level_loss', 'isd_weights',
           'tsa_weights', 'topk_mean']
