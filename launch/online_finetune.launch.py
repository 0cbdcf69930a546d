"""Online fine-tuning (PTR V-F): bridge, policy, reward, reset, episode manager, trainer.

    ros2 launch ptr_bringup online_finetune.launch.py policy_ckpt:=... reward_ckpt:=... \
        reset_ckpt:=... prior_data:=... target_data:=...
    ptr launch online_finetune policy_ckpt:=... (the same graph, without ROS 2 launch)

Arguments (with descriptions and choices): ptr launch online_finetune --help.

The graph itself is plain data in ptr_bringup.graphs; this module must not import launch at module
level (ptr launch loads it where launch does not exist).
"""
from ptr_bringup.graphs import GRAPHS

GRAPH = GRAPHS['online_finetune']


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
