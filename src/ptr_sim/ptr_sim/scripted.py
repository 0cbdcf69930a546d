"""Scripted noisy data-collection policies after COG Algorithms 1-3, plus door open/close.

Each policy is a small state machine over the privileged state (object and fixture poses): move
toward a waypoint until within a sampled threshold (COG: threshold ~ N(0.04, 0.01), here scaled to
our smaller objects), then act (close the gripper, lift, carry, release, pull, push). Gaussian
noise is added to every action in the normalized space, as COG adds N(0, 0.2) noise, so the data
covers near-misses and failures as well as successes.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from ptr_sim import tasks as T
from ptr_sim.arm import HOME_RPY

Action = np.ndarray
STEP_M = 0.05  # metres per unit of normalized translation (ptr_core.constants)
STEP_RAD = 0.25


def _move(env, goal: np.ndarray, gripper: float, gain: float = 1.0) -> Action:
    """Normalized action toward `goal` (base frame), holding the default gripper orientation."""
    state = env.unwrapped.world.arm.state()
    d = (np.asarray(goal) - state[:3]) / STEP_M * gain
    r = (HOME_RPY - state[3:6]) / STEP_RAD
    return np.concatenate([np.clip(d, -1, 1), np.clip(r, -1, 1), [2.0 * gripper - 1.0]])


class Script:
    """Waypoint machine: a list of stages, each `(env, s) -> action or None (stage done)`.

    `operator` (optional) makes the episode look like a person's teleoperation rather than a
    controller's: a slower, per-episode speed and short pauses (see OperatorStyle).
    """

    def __init__(self, env, stages, noise: float, rng: np.random.Generator,
                 operator: 'OperatorStyle | None' = None) -> None:
        self.env, self.stages, self.noise, self.rng = env, list(stages), noise, rng
        self.operator = operator
        self.i = 0
        self.count = 0
        self.pause_left = 0
        self.gripper_cmd = 1.0  # last commanded gripper action in [-1, 1] (open)

    @property
    def finished(self) -> bool:
        """Every stage done (the script now holds still)."""
        return self.i >= len(self.stages)

    def __call__(self, obs=None) -> Action:
        s = self.env.unwrapped.privileged()
        op = self.operator
        if op is not None and not self.finished and self.pause_left == 0 \
                and self.rng.random() < op.pause_prob:
            self.pause_left = int(self.rng.integers(1, op.max_pause + 1))
        if self.pause_left > 0:  # the operator stops: hold the pose and the gripper command
            self.pause_left -= 1
            a = _move(self.env, self.env.unwrapped.world.arm.target_xyz, 0.5)
            a[6] = self.gripper_cmd
        else:
            a = None
            while a is None and self.i < len(self.stages):
                a = self.stages[self.i](self, s)
                if a is None:
                    self.i, self.count = self.i + 1, 0
            if a is None:  # all done: hold still
                a = _move(self.env, s.ee, s.gripper)
            self.count += 1
            if op is not None:
                a[:3] *= op.speed
        self.gripper_cmd = float(a[6])
        a = a + self.rng.normal(0.0, self.noise, a.shape) if self.noise > 0 else a
        return np.clip(a, -1.0, 1.0).astype(np.float32)


class OperatorStyle:
    """How a teleoperator differs from the script, drawn once per episode.

    PTR's five bin-sort demos are 80 steps long, against 30-40 for its single-object prior
    episodes (PTR appendix B): people move slower than a controller and stop to look. Here a
    per-episode top speed in [speed_low, 1] of the script's, pauses of 1..max_pause steps
    started with pause_prob per step, and (BinSort) the object sorted first chosen per episode.
    """

    def __init__(self, rng: np.random.Generator, speed_low: float = 0.5,
                 pause_prob: float = 0.05, max_pause: int = 4) -> None:
        self.speed = float(rng.uniform(speed_low, 1.0))
        self.pause_prob, self.max_pause = pause_prob, max_pause


def _near(env, goal: np.ndarray, tol: float) -> bool:
    return bool(np.linalg.norm(env.unwrapped.world.arm.state()[:3] - goal) < tol)


def goto(goal_fn: Callable[[T.Privileged], np.ndarray], gripper: float, tol: float,
         max_steps: int = 25):
    def stage(sc: Script, s: T.Privileged):
        goal = goal_fn(s)
        if _near(sc.env, goal, tol) or sc.count >= max_steps:
            return None
        return _move(sc.env, goal, gripper)
    return stage


def hold(gripper_fn: Callable[[T.Privileged], float], steps: int):
    def stage(sc: Script, s: T.Privileged):
        if sc.count >= steps:
            return None
        return _move(sc.env, sc.env.unwrapped.world.arm.target_xyz, gripper_fn(s))
    return stage


def grasp_stages(obj: str, thr: float, lift: float = 0.14) -> list:
    """COG Algorithm 1: reach above the object, descend, close, lift."""
    def above(s):
        return s.objects[obj] + np.array([0, 0, 0.07])

    def at(s):
        p = s.objects[obj].copy()
        p[2] = max(p[2] - 0.002, 0.012)
        return p

    def up(s):
        return np.array([*s.ee[:2], lift])
    return [goto(above, 1.0, thr), goto(at, 1.0, thr * 0.5, 12), hold(lambda s: 0.0, 3),
            goto(up, 0.0, 0.02, 8)]


def place_stages(box: T.ContainerSpec, thr: float) -> list:
    """COG Algorithm 2 after the grasp: carry above the container, release, back off."""
    def above(s):
        return np.array([*box.xy, box.height + 0.09])

    def back(s):
        return np.array([*s.ee[:2], 0.16])
    return [goto(above, 0.0, thr), hold(lambda s: 1.0, 3), goto(back, 1.0, 0.02, 4)]


def drawer_open_stages(thr: float) -> list:
    """COG Algorithm 3 (open): hook the closed gripper behind the handle bar, pull toward us."""
    def gap(s, z):
        return np.array([T.DRAWER_FRONT_X - s.drawer - 0.02, T.DRAWER_Y, z])
    return [goto(lambda s: gap(s, 0.12), 0.0, thr),
            goto(lambda s: gap(s, 0.055), 0.0, thr * 0.5, 10),
            goto(lambda s: np.array([T.DRAWER_FRONT_X - T.DRAWER_MAX - 0.04, T.DRAWER_Y, 0.055]),
                 0.0, 0.015, 12),
            goto(lambda s: np.array([*s.ee[:2], 0.14]), 1.0, 0.02, 5)]


def drawer_close_stages(thr: float) -> list:
    """COG Algorithm 3 (close): get in front of the handle, push the drawer in."""
    def front(s, z):
        return np.array([T.DRAWER_FRONT_X - s.drawer - 0.075, T.DRAWER_Y, z])
    return [goto(lambda s: front(s, 0.12), 0.0, thr),
            goto(lambda s: front(s, 0.06), 0.0, thr * 0.5, 10),
            goto(lambda s: np.array([T.DRAWER_FRONT_X - 0.035, T.DRAWER_Y, 0.06]), 0.0, 0.01,
                 10),
            goto(lambda s: np.array([*s.ee[:2], 0.14]), 1.0, 0.02, 5)]


def door_point(q: float, local: tuple[float, float], z: float) -> np.ndarray:
    """World point of a door-local (x, y) at door angle q (hinge about -z)."""
    c, s = np.cos(q), np.sin(q)
    x, y = local
    return np.array([T.DOOR_HINGE[0] + x * c + y * s, T.DOOR_HINGE[1] - x * s + y * c, z])


def door_open_stages(thr: float) -> list:
    """Hook the handle from above, then follow the handle's arc outward."""
    gap = (-0.03, -0.15)
    return [goto(lambda s: door_point(s.door, gap, 0.19), 0.0, thr),
            goto(lambda s: door_point(s.door, gap, 0.095), 0.0, thr * 0.5, 10),
            goto(lambda s: door_point(min(s.door + 0.4, T.DOOR_MAX), gap, 0.095), 0.0, 0.01,
                 20),
            goto(lambda s: np.array([*s.ee[:2], 0.2]), 1.0, 0.02, 5)]


def door_close_stages(thr: float) -> list:
    """Come down on the handle side of the open door, then push it shut along its arc."""
    push = (-0.045, -0.09)
    return [goto(lambda s: door_point(s.door, push, 0.2), 0.0, thr),
            goto(lambda s: door_point(s.door, push, 0.08), 0.0, thr * 0.5, 10),
            goto(lambda s: door_point(max(s.door - 0.5, 0.0), (0.0, -0.09), 0.08), 0.0, 0.01,
                 20),
            goto(lambda s: np.array([*s.ee[:2], 0.2]), 1.0, 0.02, 5)]


SKILLS = ('all', 'prefix')
STYLES = ('script', 'teleop')


def make_scripted_policy(task: str, env, noise: float = 0.1,
                         rng: np.random.Generator | None = None, skills: str = 'all',
                         style: str = 'script') -> Script:
    """A fresh scripted policy for one episode of `task` in `env` (call after env.reset).

    skills='prefix' keeps only what comes before a drawer-grasp task's final grasp (unblock,
    open): COG's prior behaviours, which never reach the task's reward. style='teleop' moves
    like a person (OperatorStyle): slower per episode, with pauses, and a BinSort in either
    object order, so a few demos are multimodal as human ones are.
    """
    if skills not in SKILLS:
        raise ValueError(f'skills: expected one of {SKILLS}, got {skills!r}')
    if style not in STYLES:
        raise ValueError(f'style: expected one of {STYLES}, got {style!r}')
    t = T.get_task(task)
    rng = rng if rng is not None else np.random.default_rng()
    k = T.KITCHENS[t.kitchen]
    thr = float(np.clip(rng.normal(0.02, 0.005), 0.01, 0.035))
    operator = OperatorStyle(rng) if style == 'teleop' else None
    stages: list = []
    if t.kind in ('place', 'sort', 'binsort'):
        goals = list(t.goals)
        if operator is not None and rng.random() < 0.5:
            goals.reverse()
        for obj, box in goals:
            stages += grasp_stages(obj, thr) + place_stages(k.containers[box], thr)
    elif t.kind == 'open_drawer':
        stages = drawer_open_stages(thr)
    elif t.kind == 'close_drawer':
        stages = drawer_close_stages(thr)
    elif t.kind == 'drawer_grasp':
        if t.drawer_start == 'blocked':
            stages += grasp_stages('blocker', thr) + place_stages(k.containers['side_tray'], thr)
        if t.drawer_start in ('closed', 'blocked'):
            stages += drawer_open_stages(thr)
        if skills == 'all':
            stages += grasp_stages('drawer_cube', thr, lift=0.15)
    elif t.kind == 'open_door':
        stages = door_open_stages(thr)
    elif t.kind == 'close_door':
        stages = door_close_stages(thr)
    else:
        raise ValueError(f'task {task}: no scripted policy for kind {t.kind!r}')
    return Script(env, stages, float(noise), rng, operator)
