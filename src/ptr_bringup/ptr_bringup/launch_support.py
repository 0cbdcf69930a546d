"""Graph (ptr_bringup.graphs) -> launch description, for `ros2 launch` on a real ROS 2 install.

The `launch` and `launch_ros` modules are passed in by the launch file's
generate_launch_description(), so this module imports neither and the same launch file stays
loadable by `ptr launch` where they do not exist.
"""
from __future__ import annotations

from types import ModuleType
from typing import Any

from ptr_bringup.graphs import Graph


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
        out = []
        for spec in graph.nodes(given):
            on_exit = launch.actions.Shutdown(reason=f'{spec.name} exited') \
                if spec.required and not spec.respawn else None
            out.append(launch_ros.actions.Node(
                package=spec.package, executable=spec.executable, name=spec.name,
                namespace=spec.namespace or None, parameters=[dict(spec.parameters)],
                remappings=list(spec.remappings), respawn=spec.respawn, output='screen',
                emulate_tty=True, on_exit=on_exit))
        return out

    actions.append(launch.actions.OpaqueFunction(function=nodes))
    return launch.LaunchDescription(actions)
