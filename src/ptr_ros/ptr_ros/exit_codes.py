"""The exit codes of every node, and what a launcher does with each (one home for both).

A node that refuses its configuration (a bad parameter, a missing or unreadable file, a
checkpoint of the wrong architecture) will fail the same way on every restart, so it exits with
CONFIG_ERROR: `ptr launch` and the launch files under `ros2 launch` then end the graph with one
line instead of respawning it. Any other non-zero code is a crash, which a respawn may cure.
No rclpy here: the launchers import this module where ROS itself may be absent.
"""
from __future__ import annotations

OK = 0
CRASH = 1
# sysexits.h EX_CONFIG; distinct from Python's own 1 (uncaught exception) and 2 (usage).
CONFIG_ERROR = 78


def is_config_error(code: int | None) -> bool:
    """True when a restart cannot fix what made the node exit with `code`."""
    return code == CONFIG_ERROR
