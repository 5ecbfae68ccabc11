from . import backbones, det, distillers, losses  # noqa: F401
from .backbones import *  # noqa: F401,F403
from .det import *  # noqa: F401,F403
from .distillers import *  # noqa: F401,F403
from .losses import *  # noqa: F401,F403
