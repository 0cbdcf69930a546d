"""Pairing camera images with robot states by stamp: every node that acts on observations.

Images carry a header stamp; states (std_msgs/Float32MultiArray) carry the same stamp in their
layout label when the bridge sets it (ptr_core.rosmsg.tag_stamp). Tagged states are paired with the
image of the same stamp; an untagged state (a bridge that does not tag) pairs with the newest
image. Both topics are best effort, so either half may be missing or arrive second.
`ObservationSync` is the pairing (callers hold their own lock); `ObservationPairer` adds a
condition variable for code that blocks in a service callback waiting for a newer observation.
Pure Python: no rclpy.
"""
from __future__ import annotations

import dataclasses
import threading
from collections import OrderedDict

import numpy as np


@dataclasses.dataclass(frozen=True)
class Observation:
    """An image and the robot state of the same instant, paired by stamp."""

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
