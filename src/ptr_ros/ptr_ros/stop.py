"""Ctrl-C and SIGTERM as a request to stop in order, instead of rclpy's immediate shutdown.

rclpy's own handler shuts every context down the moment SIGINT arrives, from a native thread:
worker threads still logging or publishing then fail ("Failed to publish log message to rosout:
publisher's context is invalid"), a node's close() can no longer log or publish, and a worker
still inside torch at interpreter exit is unwound by pthread_exit, which aborts the process
("terminate called without an active exception", exit -6, no final checkpoint). Under
`ros2 launch` a node gets SIGINT twice (the terminal's process group, then launch), then SIGTERM
after `sigterm_timeout` (5 s) and SIGKILL.

So nodeutil.run() initializes rclpy without its signal handlers and installs these: the first
SIGINT or SIGTERM only sets `requested` (the spin loop sees it within its poll period and closes
the node while ROS is still up); while the node is still being built it raises KeyboardInterrupt
instead, since construction may take seconds. After that first signal a repeated SIGINT is
ignored (launch's copy must not interrupt the cleanup), and SIGTERM gets its default action back:
a node still cleaning up when launch's SIGTERM comes is past its time and ends at once rather
than waiting for SIGKILL.
"""
from __future__ import annotations

import signal
import threading
from types import FrameType

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopSignals:
    """The stop request of one node process (module docstring)."""

    def __init__(self) -> None:
        self.requested = threading.Event()
        self.signum: int | None = None
        self.interrupting = True  # while the node is built: a signal aborts the construction

    def install(self) -> bool:
        """Take SIGINT and SIGTERM; False where that is impossible (not the main thread)."""
        if threading.current_thread() is not threading.main_thread():
            return False
        for sig in SIGNALS:
            signal.signal(sig, self._on_signal)
        return True

    def spinning(self) -> None:
        """The node is built: from now on a signal only sets `requested`."""
        self.interrupting = False

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if self.requested.is_set():
            return
        self.signum = signum
        self.requested.set()
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        if self.interrupting:
            raise KeyboardInterrupt
