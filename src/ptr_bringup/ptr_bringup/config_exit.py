"""The one line both launchers print when a node exits with CONFIG_ERROR (ptr_ros.exit_codes).

Why: a node that refuses its configuration fails the same way on every restart, so the graph ends
instead of respawning it, and the person who launched it needs the node, what was wrong and which
launch argument to fix, in one line, under `ros2 launch` and `ptr launch` alike. No launch or
rclpy here: launch_support (ros2 launch) and launcher (ptr launch) both call it.
"""
from __future__ import annotations

import re

from ptr_bringup.graph_model import Graph, GraphError, is_path_argument
from ptr_ros.exit_codes import CONFIG_ERROR

# "PolicyNode: CheckpointError: ..." -> "CheckpointError: ...": the launcher names the node itself.
_SPEAKER = re.compile(r'^[\w.-]+: (?=\w+: )')
_NAMED = re.compile(r'\b(?:parameter|argument) (\w+)')
_PROBE = '/ptr-launch-probe'


def file_sources(graph: Graph, given: dict[str, str]) -> dict[str, dict[str, str]]:
    """Node name -> the path arguments (name: resolved value) that reach its parameters.

    Found by changing one argument at a time and watching which node's parameters follow: two
    arguments with the same value (policy_ckpt and reward_ckpt both x.pt) stay apart."""
    resolved = graph.resolve(given)
    out: dict[str, dict[str, str]] = {s.name: {} for s in graph.build(resolved)}
    for name, value in resolved.items():
        if not value or not is_path_argument(name):
            continue
        probe = f'{_PROBE}/{name}'
        try:
            specs = graph.build(resolved | {name: probe})
        except GraphError:
            continue
        for spec in specs:
            if spec.name in out and any(probe in str(v) for v in spec.parameters.values()):
                out[spec.name][name] = value
    return out


def culprits(sources: dict[str, str], all_arguments: dict[str, str], error: str | None
             ) -> dict[str, str]:
    """What to fix: the arguments the error names or quotes, else the node's file arguments."""
    named = {n: all_arguments[n] for n in _NAMED.findall(error or '') if n in all_arguments}
    quoted = {n: v for n, v in sources.items() if error and v in error}
    return (named | quoted) or dict(sources)


def config_exit_line(node: str, sources: dict[str, str], error: str | None,
                     all_arguments: dict[str, str] | None = None) -> str:
    """`<node>: <its error>; not respawned (...); fix <argument>:=<value> and launch again`.

    `sources`: the node's file arguments (file_sources); `error`: the node's own one-line error,
    or None where the launcher did not capture it (`ros2 launch` prints it above; a terminal
    node writes straight to the terminal)."""
    said = _SPEAKER.sub('', error.strip()) if error and error.strip() else \
        'configuration refused (its error is above)'
    to_fix = culprits(sources, all_arguments or {}, error)
    fix = (' '.join(f'{n}:={v}' for n, v in to_fix.items()) if to_fix
           else 'the launch arguments it names')
    return (f'{node}: {said}; not respawned (exit code {CONFIG_ERROR}: a restart cannot '
            f'fix this); fix {fix} and launch again')
