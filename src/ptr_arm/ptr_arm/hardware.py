"""The Interbotix xs_modules Python API (ROS 2) behind ptr_arm.arm_control.ArmHardware.

Interbotix is imported here only, and only when the arm bridge starts (`require_interbotix`), so
everything else builds and tests on machines without it. The API is passed in as an
`InterbotixAPI` (the real one, or the tests' stand-in with the same names and signatures).

Why a node of its own for the driver: `InterbotixManipulatorXS(node=...)` wants an
`InterbotixRobotNode` (its arm calls `node.logdebug` and `node.wait_until_future_complete`), and
`robot_startup(node=...)` spins that node in its own executor thread, which blocking calls such
as the timed home move rely on. So the bridge builds one (`<bridge>_xs`) and injects it: no hidden
global node, and the bridge node stays in its own executor.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

INSTALL_HINT = ('install the Interbotix ROS 2 arm packages (interbotix_ros_manipulators and '
                'interbotix_ros_toolboxes: https://docs.trossenrobotics.com/'
                'interbotix_xsarms_docs/ros_interface/ros2/software_setup.html) and source them')


class InterbotixMissing(ImportError):
    """The Interbotix Python API cannot be imported; the text says what to install."""


@dataclass(frozen=True)
class InterbotixAPI:
    """The four names of the Interbotix API the bridge uses (a module with them also fits)."""

    InterbotixManipulatorXS: Any
    InterbotixRobotNode: Any
    robot_startup: Callable[..., None]
    robot_shutdown: Callable[..., None]


def require_interbotix() -> InterbotixAPI:
    """The Interbotix API, or InterbotixMissing with one line saying what to install.

    For `robot:=widowx` launch graphs too: calling it before starting anything fails fast.
    """
    try:
        from interbotix_common_modules.common_robot.robot import (
            InterbotixRobotNode,
            robot_shutdown,
            robot_startup,
        )
        from interbotix_xs_modules.xs_robot.arm import InterbotixManipulatorXS
    except ImportError as e:
        raise InterbotixMissing(f'robot:=widowx needs interbotix_xs_modules ({e}): '
                                f'{INSTALL_HINT}') from None
    return InterbotixAPI(InterbotixManipulatorXS, InterbotixRobotNode, robot_startup,
                         robot_shutdown)


class InterbotixArm:
    """ArmHardware over an `InterbotixManipulatorXS` (its `.arm`, `.gripper` and `.core`)."""

    def __init__(self, bot: Any, gripper_delay: float = 0.0,
                 shutdown: Callable[[], None] | None = None) -> None:
        self.bot = bot
        self.gripper_delay = float(gripper_delay)
        self._shutdown = shutdown

    def joint_limits(self) -> tuple[np.ndarray, np.ndarray]:
        info = self.bot.arm.group_info
        return (np.asarray(info.joint_lower_limits, float),
                np.asarray(info.joint_upper_limits, float))

    def plan(self, pose: np.ndarray, guess: np.ndarray | None) -> tuple[np.ndarray, bool]:
        """The driver's IK for [x, y, z, roll, pitch, yaw], planned only (execute=False)."""
        x, y, z, roll, pitch, yaw = (float(v) for v in pose)
        theta, ok = self.bot.arm.set_ee_pose_components(
            x=x, y=y, z=z, roll=roll, pitch=pitch, yaw=yaw,
            custom_guess=None if guess is None else [float(v) for v in guess],
            execute=False, blocking=False)
        return np.asarray(theta, float), bool(ok)

    def send_joints(self, joints: np.ndarray, moving_time: float, accel_time: float,
                    blocking: bool) -> bool:
        return bool(self.bot.arm.set_joint_positions(
            [float(v) for v in joints], moving_time=moving_time, accel_time=accel_time,
            blocking=blocking))

    def set_timing(self, moving_time: float, accel_time: float) -> None:
        self.bot.arm.set_trajectory_time(moving_time=moving_time, accel_time=accel_time)

    def grasp(self) -> None:
        self.bot.gripper.grasp(delay=self.gripper_delay)

    def release(self) -> None:
        self.bot.gripper.release(delay=self.gripper_delay)

    def sleep(self, moving_time: float, accel_time: float) -> None:
        self.bot.arm.go_to_sleep_pose(moving_time=moving_time, accel_time=accel_time,
                                      blocking=True)

    def joint_positions(self) -> np.ndarray:
        return np.asarray(self.bot.arm.get_joint_positions(), float)

    def gripper_opening(self) -> float:
        """The left finger's position (m) as a fraction of its travel: 0 closed, 1 open."""
        g = self.bot.gripper
        lo, hi = float(g.left_finger_lower_limit), float(g.left_finger_upper_limit)
        return float(np.clip((float(g.get_finger_position()) - lo) / (hi - lo), 0.0, 1.0))

    def close(self) -> None:
        """robot_shutdown: destroys the driver's node and stops its executor thread."""
        if self._shutdown is not None:
            shutdown, self._shutdown = self._shutdown, None
            shutdown()


def connect(api: InterbotixAPI, parent: Any, robot_model: str, robot_name: str,
            group_name: str, gripper_name: str, gripper_pressure: float,
            gripper_delay: float) -> InterbotixArm:
    """Build the driver on its own InterbotixRobotNode and start it (blocks until the xs_sdk
    answers and joint states arrive, as the Interbotix constructor does)."""
    xs_node = api.InterbotixRobotNode(node_name=f'{parent.get_name()}_xs',
                                      namespace=parent.get_namespace(), context=parent.context)
    bot = api.InterbotixManipulatorXS(
        robot_model=robot_model, group_name=group_name, gripper_name=gripper_name,
        robot_name=robot_name, gripper_pressure=gripper_pressure, node=xs_node)
    api.robot_startup(node=xs_node)
    return InterbotixArm(bot, gripper_delay, lambda: api.robot_shutdown(node=xs_node))
