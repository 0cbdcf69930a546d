"""`ptr launch <graph> [name:=value ...]`: run a launch file's graph as processes (no `launch`).

The launch file (launch/<graph>.launch.py, found in the ament share directory of ptr_bringup, else
in the workspace's launch/) is loaded as a module; it exposes GRAPH (ptr_bringup.graphs) and
imports `launch` only inside generate_launch_description(). Each NodeSpec becomes one process: the
installed executable (colcon install space, via ament_index_python) with
`--ros-args -r __node:=<name> [-r __ns:=<ns>] -p k:=v ... -r from:=to ...`, in its own process
group, its output prefixed with `[name]`.

Shutdown: on SIGINT/SIGTERM every node gets SIGINT, then SIGTERM, then SIGKILL of its whole process
group after the timeout, so nothing is left behind; should the launcher itself be killed (SIGKILL),
each node gets SIGTERM from the kernel (parent-death signal). A required node that exits ends the
graph: exit code 0 if it exited with 0 (it finished, e.g. after its episodes), 1 if it died.
A node that exits with ptr_ros.exit_codes.CONFIG_ERROR (it refused its configuration: a restart
cannot fix that) is never respawned: the graph ends at once with exit code 1 and one line naming
the node, its own error and the launch argument to fix (ptr_bringup.config_exit).
"""
from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import ModuleType
from typing import Any, TextIO

from ptr_bringup.config_exit import config_exit_line, file_sources
from ptr_bringup.graphs import PATH_NAMES, PATH_SUFFIXES, Graph, GraphError, NodeSpec
from ptr_bringup.launch_support import RESPAWN_DELAY
from ptr_bringup.terminal import forward_keys, isatty, keys_mode
from ptr_ros.domains import DomainError, check_environment
from ptr_ros.exit_codes import is_config_error

PACKAGE = 'ptr_bringup'


class LaunchError(RuntimeError):
    """A graph that cannot start (file, executable, argument); the text names it."""


# -- finding things -------------------------------------------------------------------------------
def launch_dirs() -> list[Path]:
    """Where launch files are looked up: the installed share dir, then the workspace's launch/."""
    dirs = []
    try:
        from ament_index_python.packages import get_package_share_directory
        dirs.append(Path(get_package_share_directory(PACKAGE)) / 'launch')
    except Exception:  # noqa: BLE001 - not installed / no ament index: the workspace still works
        pass
    from ptr_bringup.rosenv import WORKSPACE
    dirs.append(WORKSPACE / 'launch')
    return dirs


def find_launch_file(name: str) -> Path:
    if name.endswith('.py'):
        path = Path(name)
        if not path.is_file():
            raise LaunchError(f'launch file {name}: not found')
        return path
    for d in launch_dirs():
        path = d / f'{name}.launch.py'
        if path.is_file():
            return path
    known = sorted({p.name.removesuffix('.launch.py') for d in launch_dirs() if d.is_dir()
                    for p in d.glob('*.launch.py')})
    raise LaunchError(f'launch file {name}.launch.py: not found; known graphs: {known}')


def load_launch_module(path: Path) -> ModuleType:
    """Import a launch file as a module (its module level must not import launch)."""
    spec = importlib.util.spec_from_file_location(f'ptr_launch_{path.stem.split(".")[0]}', path)
    if spec is None or spec.loader is None:
        raise LaunchError(f'launch file {path}: cannot be loaded')
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except ImportError as e:
        raise LaunchError(f'launch file {path}: import failed at module level ({e}); launch '
                          f'imports belong inside generate_launch_description()') from None
    return module


def load_graph(name: str) -> Graph:
    path = find_launch_file(name)
    graph = getattr(load_launch_module(path), 'GRAPH', None)
    if not isinstance(graph, Graph):
        raise LaunchError(f'launch file {path}: expected a module-level GRAPH '
                          f'(ptr_bringup.graphs.Graph), got {type(graph).__name__}')
    return graph


def find_executable(package: str, executable: str) -> Path:
    """The node executable in the install space: <prefix>/lib/<package>/<executable>."""
    from ament_index_python.packages import PackageNotFoundError, get_package_prefix
    try:
        prefix = Path(get_package_prefix(package))
    except PackageNotFoundError:
        raise LaunchError(f'package {package}: not in the ament index (AMENT_PREFIX_PATH); '
                          f'build the workspace (make setup)') from None
    path = prefix / 'lib' / package / executable
    if not os.access(path, os.X_OK):
        raise LaunchError(f'executable {package}/{executable}: not found at {path}; rebuild '
                          f'the workspace (make setup)')
    return path


# -- command lines --------------------------------------------------------------------------------
def param_value(value: Any) -> str:
    """A parameter value as the YAML that `-p name:=value` parses back to the same type."""
    if isinstance(value, bool):
        return 'true' if value else 'false'
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return '[' + ', '.join(param_value(v) for v in value) + ']'
    text = str(value)
    import yaml
    try:
        plain = yaml.safe_load(text) == text and '\n' not in text
    except yaml.YAMLError:
        plain = False
    return text if plain and text else json.dumps(text)


def node_command(spec: NodeSpec, executable: str | os.PathLike) -> list[str]:
    cmd = [str(executable), '--ros-args', '-r', f'__node:={spec.name}']
    if spec.namespace:
        cmd += ['-r', f'__ns:=/{spec.namespace.strip("/")}']
    for key, value in spec.parameters.items():
        cmd += ['-p', f'{key}:={param_value(value)}']
    for src, dst in spec.remappings:
        cmd += ['-r', f'{src}:={dst}']
    return cmd


def parse_assignments(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        if ':=' not in item:
            raise GraphError(f'argument {item!r}: expected name:=value')
        name, value = item.split(':=', 1)
        out[name] = value
    return out


# -- running --------------------------------------------------------------------------------------
@dataclasses.dataclass
class _Proc:
    spec: NodeSpec
    cmd: list[str]
    popen: subprocess.Popen | None = None
    reader: threading.Thread | None = None
    starts: int = 0
    last_line: str = ''  # the node's newest output line: its error, when it exits refusing


def _pump(p: _Proc, stream: TextIO, out: TextIO, lock: threading.Lock) -> None:
    name = p.spec.name
    for line in iter(stream.readline, ''):
        if line.strip():
            p.last_line = line.strip()
        with lock:
            out.write(f'[{name}] {line}' if line.endswith('\n') else f'[{name}] {line}\n')
            out.flush()
    stream.close()


class GraphRunner:
    """Starts, watches and stops the processes of one graph."""

    def __init__(self, specs: list[NodeSpec], cmds: list[list[str]],
                 env: dict[str, str] | None = None, out: TextIO | None = None,
                 shutdown_timeout: float = 10.0, respawn_delay: float = RESPAWN_DELAY,
                 arguments: dict[str, str] | None = None,
                 sources: dict[str, dict[str, str]] | None = None) -> None:
        self.procs = [_Proc(s, c) for s, c in zip(specs, cmds, strict=True)]
        self.arguments = dict(arguments or {})  # the graph's resolved launch arguments
        self.sources = dict(sources or {})  # node -> its file arguments (config_exit)
        self.env = env
        self.out = out or sys.stdout
        self.lock = threading.Lock()
        self.shutdown_timeout = shutdown_timeout
        self.respawn_delay = respawn_delay
        self.stop_requested = threading.Event()

    def _say(self, text: str) -> None:
        with self.lock:
            self.out.write(f'[ptr launch] {text}\n')
            self.out.flush()

    def _start(self, p: _Proc) -> None:
        # A terminal node (teleop) gets the keys typed here, and our terminal for its live line.
        live = p.spec.terminal and self.out is sys.stdout and isatty(sys.stdout)
        p.popen = subprocess.Popen(p.cmd, stdout=None if live else subprocess.PIPE,
                                   stderr=None if live else subprocess.STDOUT,
                                   stdin=subprocess.PIPE if p.spec.terminal
                                   else subprocess.DEVNULL, env=self.env, text=True,
                                   encoding='utf-8', errors='replace', bufsize=1,
                                   start_new_session=True, preexec_fn=_die_with_parent)
        p.starts += 1
        if p.spec.terminal:
            threading.Thread(target=forward_keys, args=(p.popen.stdin, self.stop_requested),
                             daemon=True).start()
        if not live:
            p.reader = threading.Thread(target=_pump, args=(p, p.popen.stdout, self.out,
                                                            self.lock), daemon=True)
            p.reader.start()
        self._say(f'started {p.spec.name} (pid {p.popen.pid})')

    def pids(self) -> list[int]:
        return [p.popen.pid for p in self.procs if p.popen is not None]

    def run(self) -> int:
        """Run until a stop is requested or a required node exits; returns the exit code."""
        code = 0
        with keys_mode(any(p.spec.terminal for p in self.procs)):
            try:
                for p in self.procs:
                    self._start(p)
                code = self._watch()
            finally:
                self.stop()
        return code

    def _watch(self) -> int:
        while not self.stop_requested.is_set():
            for p in self.procs:
                rc = p.popen.poll() if p.popen is not None else None
                if rc is None:
                    continue
                if is_config_error(rc):  # respawned or not, required or not: it cannot work
                    self._say(self._refusal(p))
                    return 1
                if p.spec.respawn:
                    self._say(f'{p.spec.name} exited with code {rc}; respawning')
                    if self.stop_requested.wait(self.respawn_delay):
                        return 0
                    self._start(p)
                elif p.spec.required:
                    if rc == 0:
                        self._say(f'{p.spec.name} finished; shutting the graph down')
                        return 0
                    self._say(f'required node {p.spec.name} died with code {rc}; '
                              f'shutting the graph down')
                    return 1
                else:
                    self._say(f'{p.spec.name} exited with code {rc} (not required)')
                    p.popen = None
            self.stop_requested.wait(0.1)
        return 0

    def _refusal(self, p: _Proc) -> str:
        """The one line for a node that refused its configuration, quoting its own error."""
        if p.reader is not None:
            p.reader.join(2.0)  # its last lines are still in the pipe
        return config_exit_line(p.spec.name, self.sources.get(p.spec.name, {}),
                                p.last_line if p.reader else None, self.arguments)

    def stop(self) -> None:
        """SIGINT every node, then SIGTERM, then SIGKILL each process group: no orphans. Says
        in one line how each node ended and when (seconds after the SIGINT), as ros2 launch
        reports each process."""
        self.stop_requested.set()
        live = [p for p in self.procs if p.popen is not None]
        t0 = time.monotonic()
        ended: dict[str, float] = {p.spec.name: 0.0 for p in live if p.popen.poll() is not None}
        for sig, wait in ((signal.SIGINT, self.shutdown_timeout), (signal.SIGTERM, 3.0),
                          (signal.SIGKILL, 3.0)):
            running = [p for p in live if p.popen.poll() is None]
            if not running:
                break
            if sig != signal.SIGINT:
                self._say(f'{", ".join(p.spec.name for p in running)} still running: '
                          f'{sig.name}')
            for p in running:
                _signal_group(p.popen.pid, sig)
            deadline = time.monotonic() + wait
            while running and time.monotonic() < deadline:
                time.sleep(0.02)
                for p in [p for p in running if p.popen.poll() is not None]:
                    ended[p.spec.name] = time.monotonic() - t0
                    running.remove(p)
        for p in live:
            _signal_group(p.popen.pid, signal.SIGKILL)  # grandchildren of a node, if any
            if p.reader is not None:
                p.reader.join(2.0)
        if live:
            self._say('exits: ' + ', '.join(
                f'{p.spec.name} {p.popen.poll()} ({ended.get(p.spec.name, -1.0):.1f} s)'
                for p in live))


def _die_with_parent() -> None:
    """In the child, before exec: SIGTERM it when the launcher dies, even by SIGKILL (Linux)."""
    if sys.platform.startswith('linux'):
        import ctypes
        pr_set_pdeathsig = 1
        ctypes.CDLL(None).prctl(pr_set_pdeathsig, int(signal.SIGTERM), 0, 0, 0)


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def prepare(name: str, given: dict[str, str]) -> tuple[Graph, list[NodeSpec], list[list[str]]]:
    """Load the graph, resolve its arguments, find every executable: nothing started yet."""
    from ptr_bringup.rosenv import ensure_ros_env
    ensure_ros_env()
    graph = load_graph(name)
    specs = graph.nodes(given)
    cmds = [node_command(s, find_executable(s.package, s.executable)) for s in specs]
    return graph, specs, cmds


def graph_help(graph: Graph) -> str:
    lines = [f'{graph.name}: {graph.description}', '', 'arguments (name:=value):']
    for a in graph.arguments:
        choices = f' {{{"|".join(a.choices)}}}' if a.choices else ''
        default = 'required' if a.default is None else f'default {a.default!r}'
        lines.append(f'  {a.name}{choices} ({default}): {a.description}')
    lines += ['', f'Paths (*{", *".join(PATH_SUFFIXES)}, {", ".join(PATH_NAMES)}) are relative '
              'to the directory the graph '
              'is launched from; the nodes get them absolute.']
    return '\n'.join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog='ptr launch', add_help=False,
        description='Run a graph of launch/ as processes (the same graph `ros2 launch` runs).')
    parser.add_argument('graph', nargs='?', help='graph name (launch/<graph>.launch.py) or path')
    parser.add_argument('assignments', nargs='*', help='launch arguments, name:=value')
    parser.add_argument('-h', '--help', action='store_true', help="this help, or the graph's")
    parser.add_argument('--dry-run', action='store_true', help='print the commands, start none')
    parser.add_argument('--shutdown-timeout', type=float, default=10.0,
                        help='seconds between SIGINT and SIGTERM/SIGKILL at shutdown')
    ns = parser.parse_intermixed_args(list(sys.argv[1:] if argv is None else argv))
    if ns.graph is None:
        parser.print_help()
        return 0 if ns.help else 2
    try:
        if ns.help:
            print(graph_help(load_graph(ns.graph)))
            return 0
        graph, specs, cmds = prepare(ns.graph, parse_assignments(ns.assignments))
        check_environment()  # Fast DDS would exit(1) in every node on a bad id
    except (LaunchError, GraphError, DomainError) as e:
        print(f'ptr launch: {e}', file=sys.stderr)
        return 2
    if ns.dry_run:
        for cmd in cmds:
            print(' '.join(cmd))
        return 0
    env = dict(os.environ, PYTHONUNBUFFERED='1')
    given = parse_assignments(ns.assignments)
    runner = GraphRunner(specs, cmds, env=env, shutdown_timeout=ns.shutdown_timeout,
                         arguments=graph.resolve(given), sources=file_sources(graph, given))

    def on_signal(signum: int, frame: Any) -> None:
        runner._say(f'{signal.Signals(signum).name}: shutting down')
        runner.stop_requested.set()

    old = {}
    if threading.current_thread() is threading.main_thread():
        old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        return runner.run()
    finally:
        for s, h in old.items():
            signal.signal(s, h)


if __name__ == '__main__':
    sys.exit(main())
