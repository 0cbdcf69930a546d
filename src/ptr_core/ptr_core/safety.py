"""Action safety, pure: the clamp every robot bridge applies, and the safety filter's logic.

Neither depends on the policy being any good: a wrong-size or non-finite action holds the arm
where it is, every value is clipped to the allowed range (the clamp, in the bridges), and the
safety filter node between every action source and the robot also keeps the target in a
workspace box, limits each step and the gripper's rate, holds on stale inputs or a silent
source, and latches an e-stop that only an explicit reset clears (SafetyFilter).
"""
from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from ptr_core.constants import (
    ACTION_DIM,
    ACTION_HIGH,
    ACTION_LOW,
    STATE_DIM,
    WS_HIGH,
    WS_LOW,
    denormalize_action,
)


@dataclasses.dataclass(frozen=True)
class ClampResult:
    """What was actually sent, and why it differs from what was asked (empty when it does not)."""

    action: np.ndarray
    reason: str = ''


def hold_action(state: np.ndarray | None, gripper: float | None = None) -> np.ndarray:
    """The normalized action that keeps the arm still: zero deltas, the gripper as it was.

    A plain zero vector would command the gripper to its half-open middle (0 -> 0.5 after
    denormalization). `gripper`, the last commanded (normalized) value, wins when known: fingers
    closed on an object read as partly open, and commanding that reading would loosen the grasp.
    Else the gripper value is taken from the state ([0, 1] -> [-1, 1]).
    """
    a = np.zeros(ACTION_DIM, dtype=np.float32)
    if gripper is not None:
        a[-1] = np.float32(gripper)
    elif state is not None and len(state) == STATE_DIM:
        a[-1] = np.float32(np.clip(2.0 * float(state[-1]) - 1.0, -1.0, 1.0))
    return a


def clamp_action(action: Any, state: np.ndarray | None, limit: float = 1.0,
                 gripper: float | None = None) -> ClampResult:
    """Safety filter for a normalized action: wrong size or non-finite -> hold (`gripper`: the
    last commanded one, see hold_action); else clip to limit.

    Returns the action to execute; `reason` says what was changed so the node can warn (throttled).
    """
    a = np.asarray(action, dtype=np.float64).reshape(-1)
    if a.size != ACTION_DIM:
        return ClampResult(hold_action(state, gripper),
                           f'expected {ACTION_DIM} floats, got {a.size}')
    if not np.all(np.isfinite(a)):
        return ClampResult(hold_action(state, gripper), 'non-finite values')
    clipped = np.clip(a, -limit, limit).astype(np.float32)
    if np.any(clipped != a.astype(np.float32)):
        return ClampResult(clipped, f'clipped to +-{limit:g}')
    return ClampResult(clipped)


@dataclasses.dataclass
class SafetyConfig:
    """What the safety filter node enforces between every action source and the robot."""

    # End-effector box the next target must stay in (base frame, m): the WidowX 250's reach
    # above the table (the state scaling box of ptr_core.constants).
    workspace_low: tuple[float, float, float] = tuple(float(v) for v in WS_LOW)  # type: ignore
    workspace_high: tuple[float, float, float] = tuple(float(v) for v in WS_HIGH)  # type: ignore
    # Per-step limits. The defaults are the action space's own bounds, so a policy trained on
    # Bridge-like data acts as it learned to; lower them for a first run on a real arm.
    max_step: float = 0.05  # largest translation per step and axis (m)
    max_rot_step: float = 0.25  # largest rotation per step and axis (rad)
    gripper_rate: float = 1.0  # largest gripper change per step (fraction of its range)
    stale_after: float = 1.0  # s without a fresh state or image before actions become holds
    quiet_periods: int = 3  # control periods without any action before the filter sends holds
    # The residual online mode's bound on the policy's correction (normalized units; 0: no
    # residual policy runs). A reported correction beyond it, or another bound, latches the
    # e-stop: the policy node is not running what the graph was started with.
    residual_bound: float = 0.0

    def validate(self) -> 'SafetyConfig':
        lo, hi = np.asarray(self.workspace_low), np.asarray(self.workspace_high)
        if lo.shape != (3,) or hi.shape != (3,) or not np.all(lo < hi):
            raise ValueError(f'safety: workspace: expected low < high per axis (3 each), got '
                             f'{list(self.workspace_low)} .. {list(self.workspace_high)}')
        steps = (self.max_step, self.max_rot_step, self.gripper_rate, self.stale_after)
        if min(steps) <= 0 or self.quiet_periods < 1 or self.residual_bound < 0:
            raise ValueError(f'safety: expected positive max_step, max_rot_step, gripper_rate, '
                             f'stale_after, quiet_periods >= 1 and residual_bound >= 0, got '
                             f'{steps}, {self.quiet_periods}, {self.residual_bound}')
        return self


def limit_action(action: np.ndarray, state: np.ndarray, cfg: SafetyConfig) -> ClampResult:
    """Cut a finite, in-range normalized action so that its step is small and its target stays
    in the workspace box (from `state`), and the gripper moves at most `gripper_rate`."""
    phys = denormalize_action(action).astype(np.float64)
    out = phys.copy()
    reasons = []
    xyz = np.asarray(state[:3], np.float64)
    lo, hi = np.asarray(cfg.workspace_low), np.asarray(cfg.workspace_high)
    # Target inside the box, then at most max_step: both ends of every axis' move lie in the box
    # when the state does, so the arm cannot leave it; from outside it is pulled back in steps.
    move = np.clip(xyz + phys[:3], lo, hi) - xyz
    if np.any(np.abs(move - phys[:3]) > 1e-9):
        reasons.append('workspace')
    out[:3] = np.clip(move, -cfg.max_step, cfg.max_step)
    out[3:6] = np.clip(phys[3:6], -cfg.max_rot_step, cfg.max_rot_step)
    if np.any(np.abs(out[:3] - move) > 1e-9) or np.any(np.abs(out[3:6] - phys[3:6]) > 1e-9):
        reasons.append('step limit')
    g = float(state[-1])
    out[6] = np.clip(phys[6], max(0.0, g - cfg.gripper_rate), min(1.0, g + cfg.gripper_rate))
    if abs(out[6] - phys[6]) > 1e-9:
        reasons.append('gripper rate')
    if not reasons:
        return ClampResult(np.asarray(action, np.float32))
    return ClampResult(physical_to_normalized(out), ', '.join(reasons))


def physical_to_normalized(phys: np.ndarray) -> np.ndarray:
    """Exact inverse of denormalize_action (no ACTION_CLIP): the filter must not move the
    target it has just computed."""
    return (2.0 * (np.asarray(phys, np.float64) - ACTION_LOW) / (ACTION_HIGH - ACTION_LOW)
            - 1.0).astype(np.float32)


class SafetyFilter:
    """The safety filter's state: the latest state, input freshness, the latched e-stop.

    `filter(action, now)` is what goes to the robot instead of `action`; `tick(now)` is a hold
    when the action source has gone quiet (real time); the e-stop is cleared only by
    `reset_estop()`, never by another message.
    """

    def __init__(self, cfg: SafetyConfig, period: float) -> None:
        self.cfg = cfg.validate()
        self.period = period
        self.state: np.ndarray | None = None
        self.state_time = self.image_time = self.action_time = -np.inf
        self.estopped = False
        self.estop_reason = ''
        self.gripper_cmd: float | None = None  # normalized gripper of the last action sent
        self.max_correction = 0.0  # largest residual correction reported (on_correction)

    def on_state(self, state: np.ndarray, now: float) -> None:
        s = np.asarray(state, np.float64).reshape(-1)
        if s.size == STATE_DIM and np.all(np.isfinite(s)):
            self.state, self.state_time = s, now

    def on_image(self, now: float) -> None:
        self.image_time = now

    def on_correction(self, correction: float, bound: float) -> bool:
        """A residual policy's largest correction of one action and the bound it runs with;
        latches the e-stop (and returns False) when either breaks this filter's bound."""
        self.max_correction = max(self.max_correction, float(correction))
        want = self.cfg.residual_bound
        if want <= 0:
            why = 'a residual policy runs but safety residual_bound is 0'
        elif abs(bound - want) > 1e-6:
            why = f'residual bound: expected {want:g}, the policy runs {bound:g}'
        elif not correction <= want + 1e-6:  # (also NaN)
            why = f'residual correction {correction:.4f} beyond the bound {want:g}'
        else:
            return True
        self.estop(why)
        return False

    def estop(self, reason: str) -> None:
        self.estopped, self.estop_reason = True, reason or 'e-stop'

    def reset_estop(self) -> bool:
        """Clear the latch; returns whether it was set."""
        was = self.estopped
        self.estopped, self.estop_reason = False, ''
        return was

    def hold(self) -> np.ndarray:
        """The action that keeps the arm where it is and the gripper as last commanded."""
        return hold_action(None if self.state is None else self.state.astype(np.float32),
                           self.gripper_cmd)

    def stale(self, now: float) -> str:
        """Why the inputs cannot be trusted now ('' when they can)."""
        if self.state is None:
            return 'no state yet'
        if now - self.state_time > self.cfg.stale_after:
            return f'state {now - self.state_time:.1f} s old'
        if now - self.image_time > self.cfg.stale_after:
            return f'image {now - self.image_time:.1f} s old'
        return ''

    def filter(self, action: Any, now: float, check_fresh: bool = True) -> ClampResult:
        self.action_time = now
        hold = self.hold()
        if self.estopped:
            return ClampResult(hold, f'e-stop ({self.estop_reason})')
        first = clamp_action(action, self.state, gripper=self.gripper_cmd)
        if first.reason and not first.reason.startswith('clipped'):
            return first  # wrong size or non-finite: a hold already
        why = self.stale(now) if check_fresh else ('no state yet' if self.state is None else '')
        if why:
            return ClampResult(hold, why)
        limited = limit_action(first.action, self.state, self.cfg)
        self.gripper_cmd = float(limited.action[-1])
        reason = ', '.join(r for r in (first.reason, limited.reason) if r)
        return ClampResult(limited.action, reason)

    def tick(self, now: float) -> ClampResult | None:
        """A hold when no action came for `quiet_periods` periods (or the e-stop is set)."""
        if not self.estopped and now - self.action_time < self.cfg.quiet_periods * self.period:
            return None
        return ClampResult(self.hold(), f'e-stop ({self.estop_reason})' if self.estopped
                           else 'no action')
