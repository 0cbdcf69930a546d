"""Where the operator's keys come from: a terminal in cbreak mode, a pipe, or a FIFO.

Why not only stdin: `ptr launch` starts each node in its own session (no terminal) and forwards
its own terminal's keys into the teleop node's stdin (a pipe); `ros2 run` gives the node the
terminal as stdin; `ros2 launch` gives it neither, but the node still shares the launcher's
controlling terminal, reachable as /dev/tty. A scripted operator (the tests) writes keys into
the same pipe, so it drives exactly the path a person does.
"""
from __future__ import annotations

import contextlib
import os
import select
import stat
import sys
import termios
import threading
import tty
from typing import Callable, Iterator


class NoKeyboard(RuntimeError):
    """No terminal or pipe to read keys from (the message says how to get one)."""


def _usable(fd: int) -> bool:
    """A terminal, pipe, FIFO or file; not /dev/null or a closed descriptor."""
    try:
        mode = os.fstat(fd).st_mode
    except OSError:
        return False
    return os.isatty(fd) or stat.S_ISFIFO(mode) or stat.S_ISREG(mode)


def open_keys(source: str = '') -> tuple[int, bool]:
    """(descriptor, whether we opened it): `source` a path (FIFO or file), else stdin, else the
    controlling terminal."""
    if source:
        try:
            return os.open(source, os.O_RDONLY | os.O_NONBLOCK), True
        except OSError as e:
            raise NoKeyboard(f'keys_from {source!r}: cannot open ({e.strerror})') from None
    if sys.stdin is not None and _usable(sys.stdin.fileno()):
        return sys.stdin.fileno(), False
    try:
        return os.open('/dev/tty', os.O_RDONLY | os.O_NONBLOCK), True
    except OSError:
        raise NoKeyboard('no terminal to read keys from: run the teleop node in a terminal '
                         '(`ptr launch teleop_record ...`, or `ros2 run ptr_teleop teleop_node` '
                         'beside `ros2 launch ... teleop:=false`), or set keys_from to a FIFO'
                         ) from None


@contextlib.contextmanager
def cbreak(fd: int) -> Iterator[None]:
    """Keys arrive one by one without Enter and are not echoed; the terminal is restored on
    every exit path (a terminal left in cbreak mode is the classic teleop bug)."""
    if not os.isatty(fd):
        yield
        return
    saved = termios.tcgetattr(fd)
    try:
        tty.setcbreak(fd)
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


class KeyReader:
    """A daemon thread that calls `on_key(char)` for every key and `on_eof()` when a pipe
    closes; `stop()` ends it within `poll` seconds (select with a timeout, no blocking read)."""

    def __init__(self, fd: int, on_key: Callable[[str], None], on_eof: Callable[[], None],
                 poll: float = 0.1) -> None:
        self.fd, self.on_key, self.on_eof, self.poll = fd, on_key, on_eof, poll
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name='keys', daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(2 * self.poll + 1.0)

    def _run(self) -> None:
        while not self._stop.is_set():
            ready, _, _ = select.select([self.fd], [], [], self.poll)
            if not ready:
                continue
            try:
                data = os.read(self.fd, 64)
            except BlockingIOError:
                continue
            except OSError:
                data = b''
            if not data:
                self.on_eof()
                return
            for ch in data.decode('utf-8', errors='ignore'):
                self.on_key(ch)
