"""Deciding when the policy acts on a paired observation (ptr_ros.pairing pairs them)."""
from __future__ import annotations

import numpy as np


class ActGate:
    """Acts once per observation stamp; a repeat of the same stamp (a resend) reuses the action."""

    def __init__(self) -> None:
        self.stamp: int | None = None
        self.action: np.ndarray | None = None

    def cached(self, stamp_ns: int) -> np.ndarray | None:
        """The action already computed for this stamp, if any."""
        return self.action if stamp_ns == self.stamp else None

    def record(self, stamp_ns: int, action: np.ndarray) -> None:
        self.stamp, self.action = stamp_ns, action

    def is_new(self, stamp_ns: int) -> bool:
        return self.stamp is None or stamp_ns > self.stamp


class RateGate:
    """At most `hz` acts per second.

    The minimum period has a 10% tolerance, so a robot at exactly `hz` is never skipped because of
    jitter in the arrival times.
    """

    def __init__(self, hz: float) -> None:
        self.min_period = 0.9 / hz if hz > 0 else 0.0
        self._last: float | None = None

    def ready(self, now: float) -> bool:
        if self._last is not None and now - self._last < self.min_period:
            return False
        self._last = now
        return True
