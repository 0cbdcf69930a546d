"""The action safety clamp every robot bridge applies before an action reaches the arm (pure).

It does not depend on the policy being any good: a wrong-size or non-finite action holds the arm
where it is, and every value is clipped to the allowed range. Sim and real bridges import it from
here, so the arm bridge does not need the simulator to be safe.
"""
from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from ptr_core.constants import ACTION_DIM, STATE_DIM


@dataclasses.dataclass(frozen=True)
class ClampResult:
    """What was actually sent, and why it differs from what was asked (empty when it does not)."""

    action: np.ndarray
    reason: str = ''


def hold_action(state: np.ndarray | None) -> np.ndarray:
    """The normalized action that keeps the arm still: zero deltas, the gripper where it is.

    A plain zero vector would command the gripper to its half-open middle (0 -> 0.5 after
    denormalization), so the gripper value is taken from the state ([0, 1] -> [-1, 1]).
    """
    a = np.zeros(ACTION_DIM, dtype=np.float32)
    if state is not None and len(state) == STATE_DIM:
        a[-1] = np.float32(np.clip(2.0 * float(state[-1]) - 1.0, -1.0, 1.0))
    return a


def clamp_action(action: Any, state: np.ndarray | None, limit: float = 1.0) -> ClampResult:
    """Safety filter for a normalized action: wrong size or non-finite -> hold; else clip to limit.

    Returns the action to execute; `reason` says what was changed so the node can warn (throttled).
    """
    a = np.asarray(action, dtype=np.float64).reshape(-1)
    if a.size != ACTION_DIM:
        return ClampResult(hold_action(state), f'expected {ACTION_DIM} floats, got {a.size}')
    if not np.all(np.isfinite(a)):
        return ClampResult(hold_action(state), 'non-finite values')
    clipped = np.clip(a, -limit, limit).astype(np.float32)
    if np.any(clipped != a.astype(np.float32)):
        return ClampResult(clipped, f'clipped to +-{limit:g}')
    return ClampResult(clipped)
