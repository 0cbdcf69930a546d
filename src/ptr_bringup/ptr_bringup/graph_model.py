"""What a graph is made of, as plain data: arguments, node specs, the graph and its checks.

ptr_bringup.graphs describes the project's graphs with these; both runners (`ros2 launch` via
launch_support, `ptr launch` via launcher) read them. No launch, no rclpy here.
"""
from __future__ import annotations

import dataclasses
import os
from typing import Any, Callable

# Arguments named like these are paths. A relative one resolves against the directory the graph
# is launched from (`ros2 launch` or `ptr launch`), and reaches the nodes absolute: every node,
# whatever its own working directory, and every log line names the same file.
PATH_SUFFIXES = ('_ckpt', '_data', '_dir', '_config')
PATH_NAMES = ('out',)


def is_path_argument(name: str) -> bool:
    return name.endswith(PATH_SUFFIXES) or name in PATH_NAMES


class GraphError(ValueError):
    """Bad launch arguments or an unsupported configuration; the text says which and why."""


@dataclasses.dataclass(frozen=True)
class Argument:
    """A launch argument: `name:=value` on the command line of both runners."""

    name: str
    default: str | None  # None: required (ros2 launch then reports it missing, as ptr launch)
    description: str
    choices: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class NodeSpec:
    """One node process: the installed executable, its name, parameters and remappings."""

    package: str
    executable: str
    name: str
    namespace: str = ''
    parameters: dict[str, Any] = dataclasses.field(default_factory=dict)
    remappings: tuple[tuple[str, str], ...] = ()
    respawn: bool = False
    required: bool = True  # the graph shuts down (non-zero) when a required node dies
    terminal: bool = False  # reads the person's keys: `ptr launch` forwards its terminal to it


@dataclasses.dataclass(frozen=True)
class Graph:
    """One graph: its arguments and the function that turns them into node specs."""

    name: str
    description: str
    arguments: tuple[Argument, ...]
    build: Callable[[dict[str, str]], list[NodeSpec]]

    def resolve(self, given: dict[str, str]) -> dict[str, str]:
        """Defaults overlaid with `given`; unknown names and values outside choices are errors."""
        known = {a.name: a for a in self.arguments}
        for name in given:
            if name not in known:
                raise GraphError(f'{self.name}: unknown argument {name!r}; expected one of '
                                 f'{sorted(known)}')
        missing = [a.name for a in self.arguments if a.default is None and a.name not in given]
        if missing:
            raise GraphError(f'{self.name}: required argument(s) missing: '
                             f'{", ".join(f"{m}:=..." for m in missing)}')
        out = {a.name: given.get(a.name, a.default) or '' for a in self.arguments}
        for name, value in out.items():
            if is_path_argument(name) and value:
                out[name] = os.path.abspath(os.path.expanduser(value))
        for a in self.arguments:
            if a.choices and out[a.name] not in a.choices:
                raise GraphError(f'{self.name}: argument {a.name}: expected one of '
                                 f'{list(a.choices)}, got {out[a.name]!r}')
        return out

    def nodes(self, given: dict[str, str] | None = None) -> list[NodeSpec]:
        return self.build(self.resolve(dict(given or {})))


def parse_bool(value: str) -> bool:
    v = value.strip().lower()
    if v in ('true', '1', 'yes', 'on'):
        return True
    if v in ('false', '0', 'no', 'off'):
        return False
    raise GraphError(f'expected a boolean (true/false), got {value!r}')


def parse_int(name: str, value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise GraphError(f'argument {name}: expected an integer, got {value!r}') from None


def parse_float(name: str, value: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise GraphError(f'argument {name}: expected a number, got {value!r}') from None
