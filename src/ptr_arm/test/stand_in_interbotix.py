"""A stand-in for the Interbotix xs_modules Python API (ROS 2): no driver, no arm, no ROS.

The names, parameters and defaults are the real ones (interbotix_ros_toolboxes, branch jazzy:
xs_robot/arm.py, gripper.py, core.py and common_robot/robot.py); only the behaviour is made up.
Every call is recorded in `CALLS` (name, keyword arguments). The arm reaches each command at once
unless `frozen`; IK is our PoE Newton solver from the guess (the real one is modern_robotics'
IKinSpace on the same model). Knobs on `bot.arm`: `fail_ik`, `delay` (s a call sleeps), `error`
(an exception calls raise), `solution` (joints the next plan returns), `check_limits`.
Module-level knobs work in a subprocess: STAND_IN_INTERBOTIX_LOG (a JSON file the calls are
written to at robot_shutdown).
"""
from __future__ import annotations

import json
import os
import threading
import time
from types import SimpleNamespace
from typing import Any, List

import numpy as np
from rclpy.logging import LoggingSeverity

from ptr_core.kinematics import rpy_to_matrix, wx250s_ik

CALLS: list[tuple[str, dict[str, Any]]] = []
_LOCK = threading.Lock()
# wx250s limits (rad) as the xs_sdk reports them (interbotix_xsarm_descriptions wx250s.urdf).
LOWER = [-3.141583, -1.884956, -2.146755, -3.141583, -1.745329, -3.141583]
UPPER = [3.141583, 1.989675, 1.605703, 3.141583, 2.146755, 3.141583]
SLEEP = [0.0, -1.88, 1.5, 0.0, 0.8, 0.0]
FINGER = (0.015, 0.037)  # left finger travel (m)


def record(name: str, **kwargs: Any) -> None:
    with _LOCK:
        CALLS.append((name, kwargs))


def calls(name: str) -> list[dict[str, Any]]:
    with _LOCK:
        return [kw for n, kw in CALLS if n == name]


class InterbotixRobotNode:
    def __init__(self, node_name: str = 'interbotix_robot_manipulation',
                 namespace: str | None = None, *args: Any, **kwargs: Any) -> None:
        self.node_name, self.namespace = node_name, namespace
        record('InterbotixRobotNode', node_name=node_name, namespace=namespace)


class _Core:
    def __init__(self, robot_node: Any) -> None:
        self.robot_node = robot_node
        self.js_mutex = threading.Lock()
        names = ['waist', 'shoulder', 'elbow', 'forearm_roll', 'wrist_angle', 'wrist_rotate',
                 'gripper', 'left_finger', 'right_finger']
        self.joint_states = SimpleNamespace(name=names, position=SLEEP + [0.0, 0.037, -0.037])
        self.js_index_map = {n: i for i, n in enumerate(names)}

    def get_node(self) -> Any:
        return self.robot_node


class _Arm:
    def __init__(self, core: _Core, moving_time: float, accel_time: float) -> None:
        self.core, self.moving_time, self.accel_time = core, moving_time, accel_time
        self.group_info = SimpleNamespace(
            joint_names=core.joint_states.name[:6], num_joints=6,
            joint_lower_limits=list(LOWER), joint_upper_limits=list(UPPER),
            joint_velocity_limits=[3.14] * 6, joint_sleep_positions=list(SLEEP),
            profile_type='time', mode='position')
        self.joint_commands = list(SLEEP)
        self.fail_ik, self.frozen, self.check_limits = False, False, True
        self.delay, self.error, self.solution = 0.0, None, None

    def _behave(self) -> None:
        if self.delay:
            time.sleep(self.delay)
        if self.error is not None:
            raise self.error

    def _within(self, q: List[float]) -> bool:
        return not self.check_limits or all(
            lo <= v <= hi for v, lo, hi in zip(q, LOWER, UPPER))

    def _publish(self, positions: List[float]) -> None:
        self.joint_commands = [float(v) for v in positions]
        if not self.frozen:
            with self.core.js_mutex:
                self.core.joint_states.position[:6] = list(self.joint_commands)

    def set_ee_pose_components(self, x: float = 0, y: float = 0, z: float = 0, roll: float = 0,
                               pitch: float = 0, yaw: float = None,
                               custom_guess: List[float] = None, execute: bool = True,
                               moving_time: float = None, accel_time: float = None,
                               blocking: bool = True):
        record('set_ee_pose_components', x=x, y=y, z=z, roll=roll, pitch=pitch, yaw=yaw,
               custom_guess=custom_guess, execute=execute, moving_time=moving_time,
               accel_time=accel_time, blocking=blocking)
        self._behave()
        guess = np.zeros(6) if custom_guess is None else np.asarray(custom_guess, float)
        T = np.eye(4)
        T[:3, :3] = rpy_to_matrix([roll, pitch, 0.0 if yaw is None else yaw])
        T[:3, 3] = [x, y, z]
        q, err = wx250s_ik(T, guess, iterations=50)
        q = (q + np.pi) % (2 * np.pi) - np.pi
        if self.solution is not None:
            q, err, self.solution = np.asarray(self.solution, float), 0.0, None
        if self.fail_ik or err > 1e-3 or not self._within(q):
            return q, False
        if execute:
            self._publish(q)
        return q, True

    def set_joint_positions(self, joint_positions: List[float], moving_time: float = None,
                            accel_time: float = None, blocking: bool = True) -> bool:
        record('set_joint_positions', joint_positions=list(joint_positions),
               moving_time=moving_time, accel_time=accel_time, blocking=blocking)
        self._behave()
        if not self._within(joint_positions):
            return False
        self._publish(joint_positions)
        return True

    def set_trajectory_time(self, moving_time: float = None, accel_time: float = None) -> None:
        record('set_trajectory_time', moving_time=moving_time, accel_time=accel_time)
        self.moving_time = self.moving_time if moving_time is None else moving_time
        self.accel_time = self.accel_time if accel_time is None else accel_time

    def go_to_home_pose(self, moving_time: float = None, accel_time: float = None,
                        blocking: bool = True) -> None:
        record('go_to_home_pose', moving_time=moving_time, accel_time=accel_time,
               blocking=blocking)
        self._publish([0.0] * 6)

    def go_to_sleep_pose(self, moving_time: float = None, accel_time: float = None,
                         blocking: bool = True) -> None:
        record('go_to_sleep_pose', moving_time=moving_time, accel_time=accel_time,
               blocking=blocking)
        self._publish(self.group_info.joint_sleep_positions)

    def get_joint_commands(self) -> List[float]:
        return list(self.joint_commands)

    def get_joint_positions(self) -> List[float]:
        with self.core.js_mutex:
            return list(self.core.joint_states.position[:6])


class _Gripper:
    def __init__(self, core: _Core, gripper_name: str, gripper_pressure: float = 0.5,
                 gripper_pressure_lower_limit: int = 150,
                 gripper_pressure_upper_limit: int = 350) -> None:
        self.core, self.gripper_name, self.gripper_pressure = core, gripper_name, gripper_pressure
        self.left_finger_index = core.js_index_map['left_finger']
        self.left_finger_lower_limit, self.left_finger_upper_limit = FINGER

    def _finger(self, value: float) -> None:
        with self.core.js_mutex:
            self.core.joint_states.position[self.left_finger_index] = value

    def grasp(self, delay: float = 1.0) -> None:
        record('grasp', delay=delay)
        self._finger(FINGER[0])

    def release(self, delay: float = 1.0) -> None:
        record('release', delay=delay)
        self._finger(FINGER[1])

    def set_pressure(self, pressure: float) -> None:
        record('set_pressure', pressure=pressure)

    def get_finger_position(self) -> float:
        with self.core.js_mutex:
            return self.core.joint_states.position[self.left_finger_index]


class InterbotixManipulatorXS:
    def __init__(self, robot_model: str, group_name: str = 'arm', gripper_name: str = 'gripper',
                 robot_name: str = None, moving_time: float = 2.0, accel_time: float = 0.3,
                 gripper_pressure: float = 0.5, gripper_pressure_lower_limit: int = 150,
                 gripper_pressure_upper_limit: int = 350,
                 topic_joint_states: str = 'joint_states',
                 logging_level: LoggingSeverity = LoggingSeverity.INFO,
                 node_name: str = 'robot_manipulation', node: InterbotixRobotNode = None,
                 iterative_update_fk: bool = True, args=None) -> None:
        record('InterbotixManipulatorXS', robot_model=robot_model, group_name=group_name,
               gripper_name=gripper_name, robot_name=robot_name, moving_time=moving_time,
               accel_time=accel_time, gripper_pressure=gripper_pressure, node=node)
        self.core = _Core(node)
        self.arm = _Arm(self.core, moving_time, accel_time)
        if gripper_name is not None:
            self.gripper = _Gripper(self.core, gripper_name, gripper_pressure,
                                    gripper_pressure_lower_limit, gripper_pressure_upper_limit)
        self.robot_name = robot_name
        global LAST
        LAST = self


LAST: InterbotixManipulatorXS | None = None


def robot_startup(node: InterbotixRobotNode | None = None,
                  node_name: str = 'interbotix_robot_manipulation',
                  namespace: str | None = None) -> None:
    record('robot_startup', node=node)


def robot_shutdown(node: InterbotixRobotNode | None = None) -> None:
    """The real one destroys the node and calls rclpy.shutdown(); this one saves the calls."""
    record('robot_shutdown', node=node)
    path = os.environ.get('STAND_IN_INTERBOTIX_LOG')
    if path:
        with _LOCK:
            names = [[n, {k: v for k, v in kw.items() if k != 'node'}] for n, kw in CALLS]
        with open(path, 'w') as f:
            json.dump(names, f, default=str)
