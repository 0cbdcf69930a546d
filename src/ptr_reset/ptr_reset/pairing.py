"""Thread-safe waiting on stamp-paired observations, for code that blocks in a service callback.

The pairing itself (image + state of one tick, by stamp) is ptr_policy.sync.ObservationSync, the
same logic the policy node acts on; this wrapper adds a condition variable so the reset node can
wait for an observation newer than the one it last acted on.
"""
from __future__ import annotations

import threading

import numpy as np

from ptr_policy.sync import Observation, ObservationSync

__all__ = ['Observation', 'ObservationPairer']


class ObservationPairer:
    """Feed from subscription callbacks; `wait_newer(stamp, timeout)` from another thread."""

    def __init__(self, keep: int = 8) -> None:
        self._cond = threading.Condition()
        self._sync = ObservationSync(keep)

    def add_image(self, stamp_ns: int, image: np.ndarray) -> None:
        with self._cond:
            if self._sync.add_image(int(stamp_ns), image) is not None:
                self._cond.notify_all()

    def add_state(self, stamp_ns: int | None, state: np.ndarray) -> None:
        with self._cond:
            if self._sync.add_state(None if stamp_ns is None else int(stamp_ns),
                                    state) is not None:
                self._cond.notify_all()

    @property
    def latest(self) -> Observation | None:
        with self._cond:
            return self._sync.latest()

    def wait_newer(self, stamp_ns: int, timeout: float) -> Observation | None:
        """The latest observation with a stamp > stamp_ns, waiting up to `timeout` seconds."""
        def fresh() -> bool:
            obs = self._sync.latest()
            return obs is not None and obs.stamp_ns > stamp_ns
        with self._cond:
            self._cond.wait_for(fresh, timeout)
            return self._sync.latest() if fresh() else None
