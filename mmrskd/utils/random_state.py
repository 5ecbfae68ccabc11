"""Run code without moving the process's global random generators."""
import random
from contextlib import contextmanager
from typing import Iterator, Optional

import numpy as np
import torch


@contextmanager
def preserved_random_state(seed: Optional[int] = None) -> Iterator[None]:
    """Inside the block ``random``, ``numpy.random`` and torch's CPU
    generator are seeded with ``seed`` (if given); afterwards they continue
    exactly where they were, as if the block had drawn nothing."""
    states = (random.getstate(), np.random.get_state(),
              torch.random.get_rng_state())
    if seed is not None:
        random.seed(seed)
        np.random.seed(seed)
        torch.random.manual_seed(seed)
    try:
        yield
    finally:
        random.setstate(states[0])
        np.random.set_state(states[1])
        torch.random.set_rng_state(states[2])
