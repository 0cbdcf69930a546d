"""The person's terminal under `ptr launch`: its keys go to the graph's terminal node (teleop).

Why forward instead of handing the terminal over: every node runs in its own session (so that a
stop reaches its whole process group and nothing else), and a process outside the terminal's
foreground group cannot read it; the launcher, in the foreground, reads the keys and writes them
into the node's stdin. A pipe into `ptr launch` (a scripted operator) takes the same path.
"""
from __future__ import annotations

import contextlib
import os
import sys
import threading
from typing import Any, Iterator, TextIO


def isatty(stream: Any) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def forward_keys(dst: TextIO, stop: threading.Event) -> None:
    """Our stdin -> a terminal node's stdin, key by key (the terminal is in cbreak mode while
    the graph runs: see keys_mode); our stdin's end closes the node's."""
    import select
    try:
        fd = sys.stdin.fileno()
    except (AttributeError, ValueError, OSError):
        dst.close()
        return
    try:
        while not stop.is_set():
            if not select.select([fd], [], [], 0.1)[0]:
                continue
            data = os.read(fd, 64)
            if not data:
                break
            dst.write(data.decode('utf-8', errors='ignore'))
            dst.flush()
    except (OSError, ValueError):
        pass  # the node is gone
    finally:
        try:
            dst.close()
        except (OSError, ValueError):
            pass


@contextlib.contextmanager
def keys_mode(on: bool) -> Iterator[None]:
    """Cbreak on our terminal while a terminal node runs (keys without Enter, no echo), always
    restored; Ctrl-C still raises SIGINT."""
    if not on or not isatty(sys.stdin):
        yield
        return
    from ptr_teleop.keyboard import cbreak
    with cbreak(sys.stdin.fileno()):
        yield
