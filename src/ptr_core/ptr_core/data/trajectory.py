"""One trajectory: the unit every loader produces and every sampler consumes."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ptr_core.constants import ACTION_DIM, STATE_DIM


@dataclass
class Trajectory:
    """T transitions stored as T+1 observations (the last is the final next observation).

    Actions are normalized to [-1, 1] (ptr_core.constants). `rewards` are what the source recorded
    (the sim's success indicator, zeros for Bridge); learning relabels them
    (ptr_core.data.rewards).
    `terminals` mark true task ends only: a timeout is not terminal.
    """

    images: np.ndarray  # (T+1, H, W, 3) uint8
    states: np.ndarray  # (T+1, STATE_DIM) float32
    actions: np.ndarray  # (T, ACTION_DIM) float32 in [-1, 1]
    rewards: np.ndarray  # (T,) float32
    terminals: np.ndarray  # (T,) bool
    task: str
    success: bool = False
    meta: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.actions.shape[0])

    def validate(self, where: str = 'trajectory') -> 'Trajectory':
        """Raise ValueError naming the field, the expected and the actual shape or dtype."""
        t = len(self)
        expect = {
            'images': ((t + 1, None, None, 3), np.uint8),
            'states': ((t + 1, STATE_DIM), np.float32),
            'actions': ((t, ACTION_DIM), np.float32),
            'rewards': ((t,), np.float32),
            'terminals': ((t,), np.bool_),
        }
        if t < 1:
            raise ValueError(f'{where}: actions: expected at least 1 transition, got {t}')
        for name, (shape, dtype) in expect.items():
            arr = getattr(self, name)
            ok = arr.ndim == len(shape) and all(s is None or s == a
                                                for s, a in zip(shape, arr.shape))
            if not ok:
                want = tuple('*' if s is None else s for s in shape)
                raise ValueError(f'{where}: {name}: expected shape {want}, got {tuple(arr.shape)}')
            if arr.dtype != dtype:
                raise ValueError(
                    f'{where}: {name}: expected dtype {np.dtype(dtype)}, got {arr.dtype}')
        if np.abs(self.actions).max(initial=0.0) > 1.0 + 1e-6:
            raise ValueError(f'{where}: actions: expected normalized values in [-1, 1], '
                             f'got max |a| = {np.abs(self.actions).max():.3f}')
        return self

    @classmethod
    def from_arrays(cls, images, states, actions, rewards=None, terminals=None, *, task: str,
                    success: bool = False, meta: dict[str, Any] | None = None) -> 'Trajectory':
        """Build with the canonical dtypes; rewards/terminals default to zeros/False."""
        actions = np.asarray(actions, dtype=np.float32)
        t = actions.shape[0]
        return cls(
            images=np.asarray(images, dtype=np.uint8),
            states=np.asarray(states, dtype=np.float32),
            actions=actions,
            rewards=(np.zeros(t, np.float32) if rewards is None
                     else np.asarray(rewards, np.float32)),
            terminals=(np.zeros(t, bool) if terminals is None
                       else np.asarray(terminals, dtype=bool)),
            task=task, success=bool(success), meta=dict(meta or {}),
        ).validate()
