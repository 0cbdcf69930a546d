"""Helpers for tests that run nodes as processes (shared by every package's node tests)."""
from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Callable


def stop_process(proc, patience: float = 20.0, tries: int = 3) -> tuple[int | None, str]:
    """SIGTERM a node process and collect its output; the signal is repeated if the process
    has not exited after `patience` s (rclpy occasionally misses a shutdown signal that lands
    while its executor is between two waits), and it is killed as a last resort (rc None)."""
    chunks = []
    for _ in range(tries):
        proc.terminate()
        try:
            out = proc.communicate(timeout=patience)[0]
            chunks.append(out.decode(errors='replace') if isinstance(out, bytes) else out or '')
            return proc.returncode, ''.join(chunks)
        except subprocess.TimeoutExpired:
            continue
    proc.kill()
    out = proc.communicate()[0]
    chunks.append(out.decode(errors='replace') if isinstance(out, bytes) else out or '')
    return None, ''.join(chunks)


def process_alive(pid: int) -> bool:
    """Whether `pid` still runs; a zombie is not alive (it only waits to be reaped)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        return Path(f'/proc/{pid}/stat').read_text().split()[2] != 'Z'
    except (FileNotFoundError, ProcessLookupError):  # it went between the two checks
        return False


def interrupt_like_ros2_launch(proc, timeout: float = 30.0) -> tuple[int, str, str, float]:
    """Ctrl-C as `ros2 launch` delivers it to a node started in its own session: SIGINT to its
    process group (the terminal), then again (launch). Returns (exit code, stdout, stderr,
    seconds from the first SIGINT to the exit)."""
    os.killpg(proc.pid, signal.SIGINT)
    t0 = time.monotonic()
    time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out or '', err or '', time.monotonic() - t0


def spin_in_background(executor) -> Callable[[], None]:
    """Spin `executor` in a daemon thread; the returned stop() shuts it down and waits for the
    thread, so nodes and the context can go after it (a spin loop still inside rcl when the
    context is shut down raises in its thread)."""
    thread = threading.Thread(target=executor.spin, daemon=True)
    thread.start()

    def stop() -> None:
        executor.shutdown()
        thread.join(5.0)
    return stop
