"""The off-board trainer alone, for a machine other than the robot's (same DDS domain).

    ros2 launch ptr_bringup trainer.launch.py agent_ckpt:=... prior_data:=... target_data:=...
    ptr launch trainer agent_ckpt:=...  (the robot side: online_finetune trainer:=false
                                          transfer:=inline)

The graph itself is plain data in ptr_bringup.graphs; this module must not import launch at module
level (ptr launch loads it where launch does not exist).
"""
from ptr_bringup.graphs import GRAPHS

GRAPH = GRAPHS['trainer']


def generate_launch_description():
    import launch.actions
    import launch.event_handlers
    import launch.events
    import launch.substitutions
    import launch_ros
    import launch_ros.actions

    import launch
    from ptr_bringup.launch_support import to_launch_description
    return to_launch_description(GRAPH, launch, launch_ros)
