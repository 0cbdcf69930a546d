"""The sim bridge's episode session around the env, and its lock-step gate (pure, no ROS).

The bridge node only wires these to topics. Every action passes ptr_core.safety's clamp first,
the same one a real-arm bridge applies before anything reaches the motors.
"""
from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from ptr_core.safety import ClampResult, clamp_action, hold_action


@dataclasses.dataclass
class StepOutcome:
    """One control step as the bridge publishes it."""

    image: np.ndarray
    state: np.ndarray
    reward: float
    success: bool
    terminated: bool
    truncated: bool
    step: int
    episode: int

    @property
    def done(self) -> bool:
        return self.terminated or self.truncated


class SimSession:
    """Episodes over a gymnasium env: reset, step with clamped actions, sim time in control ticks.

    An episode's end (success or horizon) is reported, not enforced: the arm keeps taking actions
    (the reset policy drives it back after an episode), and the episode manager decides when the
    next one starts by calling `reset()`, exactly as on the real arm.
    """

    def __init__(self, env: Any, seed: int | None = None, action_limit: float = 1.0) -> None:
        self.env = env
        self.seed = seed
        self.action_limit = action_limit
        self.episode = -1
        self.ticks = 0  # control ticks since start, across episodes: the sim clock
        self.last: StepOutcome | None = None
        self.gripper_cmd: float | None = None  # normalized gripper of the last applied action

    @property
    def task(self) -> str:
        spec = getattr(self.env, 'spec', None)
        name = getattr(spec, 'id', '') or ''
        return name.split('/')[-1].removesuffix('-v0')

    def reset(self) -> StepOutcome:
        self.episode += 1
        seed = None if self.seed is None else self.seed + self.episode
        obs, _ = self.env.reset(seed=seed)
        self.gripper_cmd = None
        self.last = StepOutcome(obs['image'], np.asarray(obs['state'], np.float32), 0.0, False,
                                False, False, 0, self.episode)
        return self.last

    def hold(self) -> np.ndarray:
        """The action that keeps the arm still and the gripper as last commanded."""
        return hold_action(None if self.last is None else self.last.state, self.gripper_cmd)

    def step(self, action: Any) -> tuple[StepOutcome, ClampResult]:
        if self.last is None:
            raise RuntimeError('SimSession.step before reset')
        clamp = clamp_action(action, self.last.state, self.action_limit, self.gripper_cmd)
        self.gripper_cmd = float(clamp.action[-1])
        obs, reward, terminated, truncated, info = self.env.step(clamp.action)
        self.ticks += 1
        self.last = StepOutcome(obs['image'], np.asarray(obs['state'], np.float32),
                                float(reward), bool(info.get('success', reward > 0)),
                                bool(terminated), bool(truncated), self.last.step + 1,
                                self.episode)
        return self.last, clamp


class LockstepGate:
    """When a lock-step sim may step: the current observation's action (and reward) arrived.

    With `wait_reward` the sim also waits for the reward node's label of that observation.

    Without the second condition the sim outruns the reward node and an observation can go
    unlabeled, leaving a hole in the recorded episode; with it, every step is labeled, and the
    bridge's periodic resend of the observation repairs a dropped best-effort frame.
    """

    def __init__(self, wait_reward: bool = False) -> None:
        self.wait_reward = wait_reward
        self.stamp: int | None = None
        self._action: np.ndarray | None = None
        self._rewarded = False

    def observe(self, stamp: int) -> None:
        """A new observation was published: wait for its action (and reward)."""
        self.stamp, self._action, self._rewarded = int(stamp), None, False

    def on_action(self, tag: int | None, action: np.ndarray) -> np.ndarray | None:
        """Returns the action to apply now, or None (stale, duplicate, or still waiting)."""
        if self.stamp is None or (tag is not None and tag != self.stamp):
            return None
        if self._action is None:
            self._action = action
        return self._ready()

    def on_reward(self, stamp: int) -> np.ndarray | None:
        if self.stamp is None or int(stamp) != self.stamp:
            return None
        self._rewarded = True
        return self._ready()

    def _ready(self) -> np.ndarray | None:
        if self._action is None or (self.wait_reward and not self._rewarded):
            return None
        action, self.stamp = self._action, None  # one step per observation
        return action
