"""Evaluation: a policy checkpoint acting on the robot (sim or arm), optionally with rewards.

    ros2 launch ptr_bringup eval.launch.py policy_ckpt:=...
    ptr launch eval policy_ckpt:=... clock:=lockstep

The graph itself is plain data in ptr_bringup.graphs; this module must not import launch at module
level (ptr launch loads it where launch does not exist).
"""
from ptr_bringup.graphs import GRAPHS

GRAPH = GRAPHS['eval']


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
