"""Hot-swapping policy weights without missing a control tick.

The control path only ever reads `swapper.current` (a reference, under a lock held for no longer
than the read). A weights packet is verified, decoded and loaded into a private copy of the policy
off the control path (another thread); only then is the reference swapped. A tick that started with
the old weights finishes with them; the next tick uses the new ones.
"""
from __future__ import annotations

import copy
import dataclasses
import threading
from typing import Any, Callable

from ptr_core import weights


@dataclasses.dataclass(frozen=True)
class Running:
    """The policy object in use and the weights version it runs."""

    policy: Any
    version: int
    fingerprint: str


class WeightSwapper:
    """Holds the running policy; `offer(packet)` installs newer verified weights atomically."""

    def __init__(self, policy: Any, key: bytes, version: int = 0,
                 clone: Callable[[Any], Any] = copy.deepcopy,
                 max_bytes: int | None = None) -> None:
        self._lock = threading.Lock()
        self._load_lock = threading.Lock()  # one load at a time; the control path never takes it
        self._clone = clone
        self._key = key
        self._max_bytes = max_bytes
        self._assembler = weights.ChunkAssembler()
        self._running = Running(policy, version, str(policy.fingerprint))

    @property
    def current(self) -> Running:
        with self._lock:
            return self._running

    def offer(self, packet: bytes) -> Running | None:
        """Verify one packet (or chunk); when a complete newer version is there, swap it in.

        Returns the new Running on a swap, None when nothing changed (the running version again,
        or a chunk of an incomplete payload). Raises weights.WeightsError / ValueError with the
        reason when the packet must not be loaded (an older version too); the old policy keeps
        running.
        """
        with self._load_lock:
            running = self.current
            part = weights.decode(packet, self._key, expected_fingerprint=running.fingerprint,
                                  max_bytes=self._max_bytes)
            if part.serial < running.version:  # a replay, or a trainer restarted from scratch
                raise weights.WeightsError(f'weights v{part.serial}: older than the running '
                                           f'v{running.version}; not loaded')
            if part.serial == running.version:
                return None  # a repeat of what runs (latched history): nothing to do
            whole = self._assembler.add(part)
            if whole is None:
                return None
            fresh = self._clone(running.policy)
            fresh.load_state_bytes(whole.payload)
            new = Running(fresh, whole.serial, whole.label)
            with self._lock:
                self._running = new
            return new
