"""PyBullet WidowX 250 (wx250s) simulation: gymnasium tasks, scripted policies, data collection.

`import ptr_sim` registers `ptr_sim/<TaskName>-v0` for every task in `ptr_sim.tasks.TASKS`.
"""
from __future__ import annotations

import gymnasium as gym

from ptr_sim import bullet  # noqa: F401 - first: pybullet loads here, without its banner
from ptr_sim.camera import CameraConfig
from ptr_sim.tasks import TASKS

ENV_ENTRY = 'ptr_sim.env:WidowXEnv'


def env_id(task: str) -> str:
    return f'ptr_sim/{task}-v0'


def _register() -> None:
    for name in TASKS:
        if env_id(name) not in gym.registry:
            gym.register(env_id(name), entry_point=ENV_ENTRY, kwargs={'task': name},
                         max_episode_steps=None, disable_env_checker=True)


def make_env(task: str, image_size: int = 64, camera: CameraConfig | None = None,
             seed: int | None = None, terminate_on_success: bool = True,
             starts: str = 'demo') -> gym.Env:
    """gymnasium.make('ptr_sim/<task>-v0', ...) with the task name checked first; `starts`:
    'demo', 'ood' or 'mixed' (ptr_sim.scene.START_MODES)."""
    if task not in TASKS:
        raise KeyError(f'task: expected one of {sorted(TASKS)}, got {task!r}')
    return gym.make(env_id(task), image_size=image_size, camera=camera, seed=seed,
                    terminate_on_success=terminate_on_success, starts=starts)


_register()

__all__ = ['CameraConfig', 'TASKS', 'env_id', 'make_env']
