"""A config file loaded with a clear error, and the model it describes: which registry builds it (mmdet's for a
detection config, mmpretrain's otherwise), whether it is an mmrskd
distiller, and its config as mmengine's Runner hands it over (with the data
preprocessor). Shared by the distillers, the tools and the analysis code."""
import os.path as osp
from typing import Optional

from mmengine.config import Config, ConfigDict


def load_config(path: str, cfg_options: Optional[dict] = None) -> Config:
    """Load a config file, with a clear error when it does not exist."""
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'Config file "{path}" does not exist. Configs live under '
            'configs/ (e.g. configs/isdm_r34_r18_nwpu.py).')
    cfg = Config.fromfile(path)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    return cfg


#: registry scopes of detection configs: mmdet's, and mmrotate's for
#: oriented boxes (the optional extra "rotated")
DETECTION_SCOPES = ('mmdet', 'mmrotate')


def is_detection(cfg: Config) -> bool:
    """True for configs that run in mmdet's or mmrotate's registry
    scope."""
    return cfg.get('default_scope') in DETECTION_SCOPES


def models_registry(cfg: Config):
    """mmdet's (mmrotate's) MODELS for a detection (rotated) config,
    mmpretrain's otherwise."""
    if cfg.get('default_scope') == 'mmrotate':
        from mmrotate.registry import MODELS
    elif is_detection(cfg):
        from mmdet.registry import MODELS
    else:
        from mmpretrain.registry import MODELS
    return MODELS


def is_distiller(model_cfg: dict) -> bool:
    """True for the config of an mmrskd distiller (it has a ``student``)."""
    return 'student' in model_cfg and str(model_cfg.get('type', '')).endswith(
        'Distiller')


def with_data_preprocessor(model_cfg: dict,
                           data_preprocessor: Optional[dict]) -> ConfigDict:
    """A copy of ``model_cfg`` carrying ``data_preprocessor`` unless it has
    its own (or ``data_preprocessor`` is None), as mmengine's Runner hands
    a config's top-level preprocessor to its model and a distiller hands
    its own to the student."""
    model = ConfigDict(model_cfg)
    if data_preprocessor is not None:
        model.setdefault('data_preprocessor', data_preprocessor)
    return model


def config_model(cfg: Config) -> ConfigDict:
    """A copy of ``cfg.model`` carrying the config's top-level
    ``data_preprocessor`` (as mmengine's Runner hands it over) unless the
    model has its own."""
    return with_data_preprocessor(cfg.model, cfg.get('data_preprocessor'))
