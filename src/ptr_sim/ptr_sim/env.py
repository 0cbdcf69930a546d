"""The gymnasium env: one registry task on the simulated wx250s (contract: ARCHITECTURE.md)."""
from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from ptr_core.constants import ACTION_DIM, CONTROL_HZ, START_MODES, STATE_DIM
from ptr_sim import tasks as T
from ptr_sim.camera import Camera, CameraConfig
from ptr_sim.scene import PHYSICS_HZ, World

# [x, y, z] within the arm's reach (m), [roll, pitch, yaw] (rad), gripper opening [0, 1].
STATE_LOW = np.array([-1, -1, -1, -np.pi, -np.pi, -np.pi, 0], np.float32)
STATE_HIGH = np.array([1, 1, 1, np.pi, np.pi, np.pi, 1], np.float32)
SUBSTEPS = int(round(PHYSICS_HZ / CONTROL_HZ))  # 48 physics steps per 5 Hz control step


class WidowXEnv(gym.Env):
    """Pixels + 7-d state in, normalized 7-d EE-delta action out, sparse success reward."""

    metadata = {'render_modes': ['rgb_array'], 'render_fps': int(CONTROL_HZ)}

    def __init__(self, task: str, image_size: int = 64, camera: CameraConfig | None = None,
                 seed: int | None = None, terminate_on_success: bool = True,
                 render_mode: str | None = 'rgb_array', starts: str = 'demo') -> None:
        if starts not in START_MODES:
            raise ValueError(f'starts: expected one of {list(START_MODES)}, got {starts!r}')
        self.starts = starts  # where episodes start (ptr_sim.scene.START_MODES)
        self.task = T.get_task(task)
        self.image_size = int(image_size)
        self.terminate_on_success = bool(terminate_on_success)
        self.render_mode = render_mode
        self.world = World(self.task)
        kitchen = self.world.kitchen
        self.camera_config = camera or CameraConfig().shifted(kitchen.camera_offset)
        self.camera = Camera(self.camera_config, self.image_size, self.world.client)
        s = self.image_size
        self.observation_space = spaces.Dict({
            'image': spaces.Box(0, 255, (s, s, 3), np.uint8),
            'state': spaces.Box(STATE_LOW, STATE_HIGH, (STATE_DIM,), np.float32),
        })
        self.action_space = spaces.Box(-1.0, 1.0, (ACTION_DIM,), np.float32)
        self._default_seed = seed
        self._rng = np.random.default_rng(seed)
        self._t = 0
        self._image: np.ndarray | None = None

    @property
    def horizon(self) -> int:
        return self.task.horizon

    def _obs(self) -> dict[str, np.ndarray]:
        self._image = self.camera.render()
        return {'image': self._image, 'state': self.world.arm.state()}

    def privileged(self) -> T.Privileged:
        """Ground truth for success predicates and scripted policies (not for learners)."""
        return self.world.privileged()

    def is_success(self) -> bool:
        return T.success(self.task, self.world.privileged())

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        elif self._default_seed is not None and self._t == 0 and self._image is None:
            self._rng = np.random.default_rng(self._default_seed)
        self.world.reset(self._rng, self.starts)
        self._t = 0
        return self._obs(), {'success': self.is_success(), 'task': self.task.name,
                             'start': self.world.start_kind}

    def step(self, action):
        a = np.asarray(action, dtype=np.float32).reshape(ACTION_DIM)
        if not np.all(np.isfinite(a)):
            raise ValueError(f'action: expected 7 finite values, got {a.tolist()}')
        self.world.step(a, SUBSTEPS)
        self._t += 1
        s = self.world.privileged()
        ok = T.success(self.task, s)
        terminated = ok and self.terminate_on_success
        truncated = self._t >= self.task.horizon and not terminated
        info = {'success': ok, 'task': self.task.name, 'step': self._t,
                'goals_met': T.goals_met(self.task, s) if self.task.goals else int(ok)}
        return self._obs(), float(ok), terminated, truncated, info

    def render(self):
        return self._image if self._image is not None else self.camera.render()

    def close(self) -> None:
        if getattr(self, 'world', None) is not None:
            self.world.close()
