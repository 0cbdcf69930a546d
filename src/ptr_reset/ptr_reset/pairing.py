"""Pair camera frames and robot states by stamp: one observation = (image, state) of one tick.

The bridges stamp the image header and tag the state's layout with the same nanoseconds
(ptr_core.rosmsg.tag_stamp); an untagged state (a bridge that does not tag) pairs with the newest
image. Pure and thread-safe so a node can feed it from subscription callbacks and wait on it from
a service callback.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Observation:
    image: np.ndarray  # (H, W, 3) uint8
    state: np.ndarray  # (7,) float32
    stamp_ns: int


class ObservationPairer:
    """Latest (image, state) pair; `wait_newer(stamp, timeout)` blocks until a newer one exists."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._image: tuple[int, np.ndarray] | None = None
        self._state: tuple[int | None, np.ndarray] | None = None
        self._latest: Observation | None = None

    def _match(self) -> None:
        if self._image is None or self._state is None:
            return
        (istamp, img), (sstamp, state) = self._image, self._state
        if sstamp is None or sstamp == istamp:
            if self._latest is None or istamp > self._latest.stamp_ns:
                self._latest = Observation(img, state, istamp)
                self._cond.notify_all()

    def add_image(self, stamp_ns: int, image: np.ndarray) -> None:
        with self._cond:
            self._image = (int(stamp_ns), image)
            self._match()

    def add_state(self, stamp_ns: int | None, state: np.ndarray) -> None:
        with self._cond:
            self._state = (None if stamp_ns is None else int(stamp_ns), state)
            self._match()

    @property
    def latest(self) -> Observation | None:
        with self._cond:
            return self._latest

    def wait_newer(self, stamp_ns: int, timeout: float) -> Observation | None:
        """The latest observation with a stamp > stamp_ns, waiting up to `timeout` seconds."""
        with self._cond:
            self._cond.wait_for(lambda: self._latest is not None
                                and self._latest.stamp_ns > stamp_ns, timeout)
            obs = self._latest
            return obs if obs is not None and obs.stamp_ns > stamp_ns else None
