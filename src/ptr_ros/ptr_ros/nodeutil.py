"""Small helpers every node shell uses: declare PARAMETERS, run main() with a clean shutdown.

A node module declares `PARAMETERS: dict[str, default]` at module level (the launch test checks the
launch files against it); `declare(node, PARAMETERS)` declares them all and returns their values.
`run(make_node)` is the body of every `main()`: init, spin, and always close + destroy +
shutdown in that order (ptr_ros.stop: Ctrl-C under ros2 launch), returning 0 on SIGINT/SIGTERM,
CONFIG_ERROR (ptr_ros.exit_codes) on a refused configuration, which no launcher respawns, and 1
on a crash (one-line error).
"""
from __future__ import annotations

import ctypes
import dataclasses
import logging
import os
import signal
import sys
import threading
import time
from typing import Any, Callable

import rclpy
from rclpy.executors import (
    ExternalShutdownException,
    MultiThreadedExecutor,
    SingleThreadedExecutor,
)
from rclpy.node import Node
from rclpy.signals import SignalHandlerOptions

from ptr_ros.domains import check_environment
from ptr_ros.exit_codes import CONFIG_ERROR, CRASH
from ptr_ros.stop import StopSignals

# How often the spin loop looks at the stop request: a signal ends it within this.
POLL_S = 0.1


def require_choice(params: dict[str, Any], name: str, choices: tuple[str, ...]) -> str:
    """The parameter's value, or a one-line ValueError naming it, the choices and the value."""
    value = params[name]
    if value not in choices:
        raise ValueError(f'parameter {name}: expected one of {choices}, got {value!r}')
    return value


def dataclass_parameters(cls: type) -> dict[str, Any]:
    """Every field of a settings dataclass as a node parameter of the same name and default
    (tuples become float lists: ROS parameters have no tuples), so the dataclass stays the one
    home of each setting and its default."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        v = getattr(cls(), f.name)
        out[f.name] = [float(x) for x in v] if isinstance(v, tuple) else v
    return out


def dataclass_values(cls: type, params: dict[str, Any], only_changed: bool = False
                     ) -> dict[str, Any]:
    """The declared values of `cls`'s fields back as field values (lists -> tuples); with
    `only_changed`, just those that differ from the default (set on the command line)."""
    defaults = dataclass_parameters(cls)
    return {k: tuple(params[k]) if isinstance(d, list) else params[k]
            for k, d in defaults.items() if not only_changed or params[k] != d}


def declare(node: Node, parameters: dict[str, Any]) -> dict[str, Any]:
    """Declare every parameter with its default; returns name -> current value."""
    out = {}
    for name, default in parameters.items():
        out[name] = node.declare_parameter(name, default).value
    return out


class ConfigRefused(ValueError):
    """Raised by a running node (a callback) whose input contradicts its configuration in a way
    no restart fixes (images of another size than its checkpoint's): run() exits with
    CONFIG_ERROR, so the launcher ends the graph with this one line instead of a respawn."""


class ServiceUnavailable(RuntimeError):
    """No server answered `wait_for_service` in time."""


class Stopped(RuntimeError):
    """The node is stopping (its `stop` event is set): the call was given up."""


def call_service(client: Any, request: Any, timeout: float, wait: float = 30.0,
                 attempt: float | None = None, stop: threading.Event | None = None) -> Any:
    """Call a service and block until its answer: for worker threads only (a callback of the
    node's executor would wait for itself). Raises ServiceUnavailable when no server appears
    within `wait` s and TimeoutError when no answer came within `timeout` s, naming the service;
    with `stop`, Stopped within STOP_LOOK_S of it being set (the node's close() joins the
    caller: on Ctrl-C the server may be gone, and nobody would answer).

    With `attempt`, a request unanswered after that many seconds is sent again (until
    `timeout`): a server that died with the request (a respawned node) never answers it, and
    DDS may report the dead server as present for its whole lease, so only a resend reaches
    the new one. Only for idempotent requests (enable, pause)."""
    deadline = time.monotonic() + timeout
    while True:
        if not _wait_for_server(client, wait, stop):
            raise ServiceUnavailable(f'{client.srv_name}: service not available')
        done = threading.Event()
        fut = client.call_async(request)
        fut.add_done_callback(lambda _, d=done: d.set())
        left = deadline - time.monotonic()
        if _wait_unless_stopped(done, max(0.0, min(left, attempt or left)), stop):
            return fut.result()
        client.remove_pending_request(fut)
        if stop is not None and stop.is_set():
            raise Stopped(f'{client.srv_name}: call given up, stopping')
        if time.monotonic() >= deadline:
            raise TimeoutError(f'{client.srv_name}: no answer within {timeout:g} s')


# How often a blocking call looks at its stop event.
STOP_LOOK_S = 0.1


def _wait_for_server(client: Any, wait: float, stop: threading.Event | None) -> bool:
    end = time.monotonic() + wait
    while True:
        slice_s = max(0.0, end - time.monotonic())
        if stop is not None:
            slice_s = min(slice_s, STOP_LOOK_S)
        if client.wait_for_service(timeout_sec=slice_s):
            return True
        if stop is not None and stop.is_set():
            raise Stopped(f'{client.srv_name}: call given up, stopping')
        if time.monotonic() >= end:
            return False


def _wait_unless_stopped(done: threading.Event, seconds: float,
                         stop: threading.Event | None) -> bool:
    end = time.monotonic() + seconds
    while not done.is_set():
        left = end - time.monotonic()
        if left <= 0 or (stop is not None and stop.is_set()):
            return False
        done.wait(left if stop is None else min(left, STOP_LOOK_S))
    return True


def log_info(node: Node, text: str) -> None:
    """Log through ROS while the context lives; after Ctrl-C shut it down (a node's close())
    the logger's /rosout publisher would fail, so the line goes to stderr instead."""
    if node.context.ok():
        node.get_logger().info(text)
    else:
        print(f'[{node.get_name()}] {text}', file=sys.stderr, flush=True)


class Throttle:
    """Lets a message through at most once per `period` seconds (for per-tick warnings)."""

    def __init__(self, period: float = 5.0) -> None:
        self.period = period
        self._last: dict[str, float] = {}

    def __call__(self, key: str) -> bool:
        now = time.monotonic()
        if now - self._last.get(key, -1e9) >= self.period:
            self._last[key] = now
            return True
        return False


def run(make_node: Callable[[], Node], args: list[str] | None = None, threads: int = 1) -> int:
    """Init rclpy, build the node, spin until shutdown; always clean up. Returns the exit code:
    0 on SIGINT/SIGTERM, CONFIG_ERROR when the node refuses its configuration (a bad parameter,
    a missing or unreadable file, a checkpoint of another architecture: ValueError/OSError from
    its constructor), 1 on a crash; errors print as one line (a launcher quotes it).

    A signal stops the node in order (ptr_ros.stop): the spin loop ends within POLL_S, then the
    node's close() runs with ROS still up (its workers joined, its last lines logged and
    published), then the node, the executor and the context go, in that order."""
    try:
        check_environment()
    except ValueError as e:
        print(f'{_node_name(make_node)}: {one_line(e)}', file=sys.stderr, flush=True)
        return CONFIG_ERROR
    stop = StopSignals()
    own_signals = stop.install()
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO if own_signals
               else None)
    node = None
    code = 0
    executor = MultiThreadedExecutor(threads) if threads > 1 else SingleThreadedExecutor()
    try:
        node = make_node()
        stop.spinning()
        executor.add_node(node)
        while not stop.requested.is_set() and rclpy.ok():
            executor.spin_once(timeout_sec=POLL_S)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except Exception as e:  # noqa: BLE001 - a node crash must say why in one line and exit 1
        if stop.requested.is_set() or not rclpy.ok():
            return _close(node, executor)  # a callback raced the SIGINT/SIGTERM shutdown
        name = node.get_name() if node is not None else _node_name(make_node)
        print(f'{name}: {type(e).__name__}: {one_line(e)}', file=sys.stderr, flush=True)
        config = isinstance(e, ConfigRefused) or (node is None and
                                                  isinstance(e, (ValueError, OSError)))
        code = CONFIG_ERROR if config else CRASH
    return _close(node, executor, code)


def one_line(e: BaseException) -> str:
    """The exception's text on one line: a launcher reports a node's last line as its error."""
    return ' '.join(part.strip() for part in str(e).splitlines() if part.strip())


def _node_name(make_node: Callable[[], Node]) -> str:
    return getattr(make_node, '__name__', 'node')


def _close(node: Node | None, executor: Any, code: int = 0) -> int:
    """close() first, while the context lives; then the node, the executor, the context."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # launch's second SIGINT, if still due
    close = getattr(node, 'close', None)
    if callable(close):
        close()
    if node is not None:
        node.destroy_node()
    executor.shutdown(timeout_sec=1.0)
    pool = getattr(executor, '_executor', None)  # MultiThreadedExecutor's callback threads,
    if pool is not None:  # which rclpy leaves to the interpreter's exit
        pool.shutdown(wait=False)
    if rclpy.ok():
        rclpy.shutdown()
    return leave(code)


def leave(code: int, patience: float = 1.0) -> int:
    """End the process with `code` now that the node is closed: the other threads get
    `patience` s to end, output is flushed, and the interpreter's finalization is skipped
    (os._exit). That finalization is where a daemon thread still inside native code (torch,
    DDS) is unwound by pthread_exit, which aborts ('terminate called without an active
    exception', exit -6), and where torch's teardown took 1-1.5 s of launch's 5 s (measured).
    Everything a node keeps is written by its close(). Returns only off the main thread (an
    in-process caller)."""
    if threading.current_thread() is not threading.main_thread():
        return code
    deadline = time.monotonic() + patience
    for t in threading.enumerate():
        if t is not threading.current_thread():
            t.join(max(0.0, deadline - time.monotonic()))
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        ctypes.CDLL(None).fflush(None)  # C stdio of the native libraries
    except (OSError, AttributeError):
        pass
    os._exit(code)
