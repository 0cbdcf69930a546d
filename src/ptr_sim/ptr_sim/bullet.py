"""pybullet, imported in this one place, quietly: every module of ptr_sim takes `pb` from here.

Why: pybullet's C module writes `pybullet build time: ...` straight to the process's descriptors
(past sys.stdout/sys.stderr) when it is imported, so that line opened every sim command and node
log, and it was the extra line before `ptr eval`'s one-line errors. ptr_sim/__init__ imports this
module first, so a plain `import pybullet` elsewhere then finds it loaded and prints nothing.
"""
from __future__ import annotations

import contextlib
import os
import sys
from typing import Iterator


@contextlib.contextmanager
def quiet_descriptors(*fds: int) -> Iterator[None]:
    """Point the OS-level descriptors `fds` at /dev/null meanwhile (C code writes there)."""
    for stream in (sys.stdout, sys.stderr):
        if stream is not None:
            stream.flush()  # what Python buffered so far still goes out
    saved = [os.dup(fd) for fd in fds]
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        for fd in fds:
            os.dup2(null, fd)
        yield
    finally:
        for fd, copy in zip(fds, saved):
            os.dup2(copy, fd)
            os.close(copy)
        os.close(null)


with quiet_descriptors(1, 2):
    import pybullet as pb

__all__ = ['pb']
