"""Teleoperated demonstrations recorded to rosbag2, one MCAP bag per episode (sim or arm).

    ptr launch teleop_record robot:=sim task:=OpenDoor out:=demos
    ros2 launch ptr_bringup teleop_record.launch.py robot:=sim task:=OpenDoor out:=demos

The teleop node reads keys from the terminal (under ros2 launch: the launcher's terminal, via
/dev/tty). The graph itself is plain data in ptr_bringup.graphs; this module must not import
launch at module level (ptr launch loads it where launch does not exist).
"""
from ptr_bringup.graphs import GRAPHS

GRAPH = GRAPHS['teleop_record']


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
