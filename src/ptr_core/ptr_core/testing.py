"""Tiny agent configs and synthetic episodes for tests and smoke runs (not for training)."""
from __future__ import annotations

import numpy as np

from ptr_core.config import Config, preset
from ptr_core.constants import ACTION_DIM, STATE_DIM
from ptr_core.data import Trajectory


def tiny_config(image_size: int = 32, num_tasks: int = 4) -> Config:
    """The sim CPU preset shrunk to a few thousand parameters: seconds, not minutes."""
    cfg = preset('ptr_sim_cpu')
    n = cfg.network
    n.image_size, n.impala_channels, n.bottleneck_dim = image_size, (4, 8), 32
    n.q_hidden, n.policy_hidden, n.num_tasks = (32, 32), (32, 32), num_tasks
    cfg.train.batch_size = 16
    cfg.agent.cql_alpha = 5.0
    return cfg


def random_episode(task: str, seed: int, length: int = 5, success: bool = False,
                   image_size: int = 32) -> Trajectory:
    """Random frames/states/actions; a success is rewarded (and terminal) on its last step."""
    rng = np.random.default_rng(seed)
    r = np.zeros(length, np.float32)
    r[-1] = float(success)
    return Trajectory.from_arrays(
        rng.integers(0, 255, (length + 1, image_size, image_size, 3), np.uint8),
        rng.random((length + 1, STATE_DIM)), rng.uniform(-1, 1, (length, ACTION_DIM)), r, r > 0,
        task=task,
        success=success)
