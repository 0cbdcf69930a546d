"""Graph (ptr_bringup.graphs) -> launch description, for `ros2 launch` on a real ROS 2 install.

The `launch` and `launch_ros` modules are passed in by the launch file's
generate_launch_description(), so this module imports neither and the same launch file stays
loadable by `ptr launch` where they do not exist.

Exits, as under `ptr launch`: a node that exits with CONFIG_ERROR (ptr_ros.exit_codes: it refused
its configuration) logs one line (ptr_bringup.config_exit, quoting the node's last stderr line) and
shuts the launch down, so it is not respawned (respawning nodes wait RESPAWN_DELAY, in which the
shutdown lands); a required node that exits otherwise shuts it down too; a respawning one that
crashed is started again. `ros2 launch` itself still exits 0 after such a shutdown.
"""
from __future__ import annotations

import re
from types import ModuleType
from typing import Any

from ptr_bringup.config_exit import config_exit_line, file_sources
from ptr_bringup.graphs import Graph, NodeSpec
from ptr_ros.exit_codes import is_config_error

# Seconds before a crashed node is started again (ptr launch waits as long): launch checks for a
# shutdown before respawning only after this delay, and a CONFIG_ERROR exit's shutdown lands in it.
RESPAWN_DELAY = 1.0


def to_launch_description(graph: Graph, launch: ModuleType, launch_ros: ModuleType) -> Any:
    """Declare every argument (description, choices), then build the nodes once they resolve."""
    actions: list[Any] = []
    for a in graph.arguments:
        kwargs: dict[str, Any] = {'description': a.description}
        if a.default is not None:  # no default: launch itself reports the argument missing
            kwargs['default_value'] = a.default
        if a.choices:
            kwargs['choices'] = list(a.choices)
        actions.append(launch.actions.DeclareLaunchArgument(a.name, **kwargs))

    def nodes(context: Any) -> list[Any]:
        given = {a.name: launch.substitutions.LaunchConfiguration(a.name).perform(context)
                 for a in graph.arguments}
        resolved, sources = graph.resolve(given), file_sources(graph, given)
        out = []
        for spec in graph.nodes(given):
            exits = NodeExits(spec, sources.get(spec.name, {}), resolved, launch)
            respawn = {'respawn': True, 'respawn_delay': RESPAWN_DELAY} if spec.respawn else {}
            node = launch_ros.actions.Node(
                package=spec.package, executable=spec.executable, name=spec.name,
                namespace=spec.namespace or None, parameters=[dict(spec.parameters)],
                remappings=list(spec.remappings), output='screen', emulate_tty=True,
                on_exit=exits.on_exit, **respawn)
            out += [node, launch.actions.RegisterEventHandler(launch.event_handlers.OnProcessIO(
                target_action=node, on_stderr=exits.on_stderr))]
        return out

    actions.append(launch.actions.OpaqueFunction(function=nodes))
    return launch.LaunchDescription(actions)


_ANSI = re.compile(r'\x1b\[[0-9;]*[A-Za-z]')


class NodeExits:
    """What one node's exit calls for under ros2 launch (module docstring). Keeps the node's
    newest stderr line: on a CONFIG_ERROR exit that is its one-line error, quoted in the line."""

    def __init__(self, spec: NodeSpec, sources: dict[str, str], arguments: dict[str, str],
                 launch: ModuleType) -> None:
        self.spec, self.sources, self.arguments, self.launch = spec, sources, arguments, launch
        self.last_error: str | None = None

    def on_stderr(self, event: Any) -> None:
        """OnProcessIO callback: `event.text` is a chunk of the node's stderr (bytes)."""
        text = _ANSI.sub('', event.text.decode('utf-8', 'replace'))
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        if lines:
            self.last_error = lines[-1]

    def on_exit(self, event: Any, context: Any) -> list[Any] | None:
        """OnProcessExit callback (ProcessExited event): the actions to run."""
        actions = self.launch.actions
        if is_config_error(event.returncode):
            line = config_exit_line(self.spec.name, self.sources, self.last_error,
                                    self.arguments)
            # the event itself, not the Shutdown action: that one adds "was required" (it was not)
            return [actions.LogInfo(msg=line),
                    actions.EmitEvent(event=self.launch.events.Shutdown(reason=line))]
        if getattr(context, 'is_shutdown', False):
            return None  # exiting because the launch is shutting down: nothing to add
        if self.spec.required and not self.spec.respawn:
            return [actions.Shutdown(reason=f'{self.spec.name} exited')]
        return None
