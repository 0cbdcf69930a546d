"""Pairing camera images with robot states, and deciding when the policy acts.

Images carry a header stamp; states (std_msgs/Float32MultiArray) carry the same stamp in their
layout label when the bridge sets it (ptr_core.rosmsg.tag_stamp). Tagged states are paired with the
image of the same stamp; an untagged state (a bridge that does not tag) pairs with the newest
image. Both topics are best effort, so either half may be missing or arrive second.
"""
from __future__ import annotations

import dataclasses
from collections import OrderedDict

import numpy as np


@dataclasses.dataclass(frozen=True)
class Observation:
    stamp_ns: int
    image: np.ndarray
    state: np.ndarray


class ObservationSync:
    """Keeps the last few images and states by stamp; `latest()` is the newest complete pair."""

    def __init__(self, keep: int = 8) -> None:
        self.keep = keep
        self._images: OrderedDict[int, np.ndarray] = OrderedDict()
        self._states: OrderedDict[int, np.ndarray] = OrderedDict()
        self._untagged: np.ndarray | None = None
        self._latest: Observation | None = None

    def _put(self, store: OrderedDict, stamp: int, value: np.ndarray) -> None:
        store[stamp] = value
        store.move_to_end(stamp)
        while len(store) > self.keep:
            store.popitem(last=False)

    def add_image(self, stamp_ns: int, image: np.ndarray) -> Observation | None:
        """Store an image; returns the observation it completes (None if its state is missing)."""
        self._put(self._images, stamp_ns, image)
        if stamp_ns in self._states:
            return self._complete(stamp_ns, image, self._states[stamp_ns])
        if self._untagged is not None and not self._states:
            return self._complete(stamp_ns, image, self._untagged)
        return None

    def add_state(self, tag_ns: int | None, state: np.ndarray) -> Observation | None:
        """Store a state (tagged with its image stamp or not); returns a completed observation."""
        if tag_ns is None:
            self._untagged = state
            if self._images and not self._states:
                stamp = next(reversed(self._images))
                return self._complete(stamp, self._images[stamp], state)
            return None
        self._put(self._states, tag_ns, state)
        if tag_ns in self._images:
            return self._complete(tag_ns, self._images[tag_ns], state)
        return None

    def _complete(self, stamp: int, image: np.ndarray, state: np.ndarray) -> Observation | None:
        if self._latest is not None and stamp < self._latest.stamp_ns:
            return None  # an older pair completing late: never act on the past
        self._latest = Observation(stamp, image, state)
        return self._latest

    def latest(self) -> Observation | None:
        return self._latest


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
