"""The simulated wx250s: Bridge-style end-effector delta control solved by inverse kinematics.

Why this shape: one IK solve (Newton on the PoE model, ptr_core.kinematics) per control step and
joint position motors during the 48 physics substeps keep an env step near the cost of physics
and render alone (DESIGN.md s6: >= 150 steps/s).
The commanded pose is tracked internally (not re-read from the arm) so a zero action holds still
instead of letting gravity sag accumulate; it is re-anchored when the arm is blocked far from it.
"""
from __future__ import annotations

import numpy as np

from ptr_core.constants import (
    HOME_RPY,
    HOME_XYZ,
    RPY_HIGH,
    RPY_LOW,
    WS_HIGH,
    WS_LOW,
    denormalize_action,
)
from ptr_core.kinematics import (
    ARM_JOINTS,
    matrix_to_rpy,
    quat_to_matrix,
    wx250s_ik,
    xyzrpy_to_pose,
)
from ptr_sim.bullet import pb
from ptr_sim.robot_model import urdf_path

FINGER_MIN, FINGER_MAX = 0.015, 0.037  # left finger travel (m); right finger mirrors it
# The workspace box, orientation bounds and home pose (WS_*, RPY_*, HOME_*) live in
# ptr_core.constants, shared with the real arm; they stay importable from here.
# Episodes start anywhere in HOME +- this box (uniform), as Bridge episodes start wherever the
# last one left the arm. Why: with one fixed start, a deterministic policy on a fixed fixture
# (drawer, door) runs the same trajectory every episode, so N evaluation episodes are one trial.
START_JITTER = np.array([0.03, 0.04, 0.02])
REANCHOR_M = 0.04


class Arm:
    """Joint indices, IK and motors of one wx250s body in one PyBullet client."""

    def __init__(self, client: int) -> None:
        self.client = client
        self.body = pb.loadURDF(str(urdf_path()), (0, 0, 0), useFixedBase=True,
                                physicsClientId=client)
        n = pb.getNumJoints(self.body, physicsClientId=client)
        info = [pb.getJointInfo(self.body, j, physicsClientId=client) for j in range(n)]
        by_name = {i[1].decode(): i[0] for i in info}
        self.arm = [by_name[j] for j in ARM_JOINTS]
        self.fingers = [by_name['left_finger'], by_name['right_finger']]
        self.ee = next(i[0] for i in info if i[12].decode().endswith('ee_gripper_link'))
        self.arm_lower = np.array([info[j][8] for j in self.arm])
        self.arm_upper = np.array([info[j][9] for j in self.arm])
        for j in self.fingers:
            pb.changeDynamics(self.body, j, lateralFriction=2.0, spinningFriction=0.01,
                              physicsClientId=client)
        self.target_xyz = HOME_XYZ.copy()
        self.target_rpy = HOME_RPY.copy()
        self.home_q = self._home_configuration()
        self.gripper_cmd = 1.0

    def _home_configuration(self) -> np.ndarray:
        for j, q in zip(self.arm, [0, -0.3, 0.3, 0, 1.2, 0]):
            pb.resetJointState(self.body, j, q, physicsClientId=self.client)
        q = self.solve_ik(HOME_XYZ, HOME_RPY, iterations=50)  # from a fixed seed: deterministic
        for j, v in zip(self.arm, q):
            pb.resetJointState(self.body, j, v, physicsClientId=self.client)
        return q

    def solve_ik(self, xyz: np.ndarray, rpy: np.ndarray, iterations: int = 5) -> np.ndarray:
        """Joint targets for an EE pose: Newton IK on the PoE model from the current joints."""
        q0 = np.array([js[0] for js in pb.getJointStates(self.body, self.arm,
                                                         physicsClientId=self.client)])
        q, _ = wx250s_ik(xyzrpy_to_pose(np.concatenate([xyz, rpy])), q0, self.arm_lower,
                         self.arm_upper, iterations=iterations)
        return q

    def reset(self, gripper: float = 1.0, xyz: np.ndarray | None = None) -> None:
        """Teleport to home, or to `xyz` at the home orientation, with zero velocities.

        IK for `xyz` starts from the home joints, so the same xyz always gives the same joints.
        """
        self._set_joints(self.home_q)
        q, target = self.home_q, HOME_XYZ.copy()
        if xyz is not None:
            target = np.clip(np.asarray(xyz, dtype=float), WS_LOW, WS_HIGH)
            q = self.solve_ik(target, HOME_RPY, iterations=20)
            self._set_joints(q)
        width = FINGER_MIN + gripper * (FINGER_MAX - FINGER_MIN)
        pb.resetJointState(self.body, self.fingers[0], width, physicsClientId=self.client)
        pb.resetJointState(self.body, self.fingers[1], -width, physicsClientId=self.client)
        self.target_xyz, self.target_rpy = target, HOME_RPY.copy()
        self.gripper_cmd = gripper
        self._drive(q, gripper)

    def _set_joints(self, q: np.ndarray) -> None:
        for j, v in zip(self.arm, q):
            pb.resetJointState(self.body, j, v, 0.0, physicsClientId=self.client)

    def _drive(self, q: np.ndarray, gripper: float) -> None:
        pb.setJointMotorControlArray(
            self.body, self.arm, pb.POSITION_CONTROL, targetPositions=list(q),
            forces=[40.0] * 6, positionGains=[0.3] * 6, physicsClientId=self.client)
        width = FINGER_MIN + float(gripper) * (FINGER_MAX - FINGER_MIN)
        pb.setJointMotorControlArray(
            self.body, self.fingers, pb.POSITION_CONTROL, targetPositions=[width, -width],
            forces=[15.0, 15.0], positionGains=[0.2, 0.2], physicsClientId=self.client)

    def apply(self, action: np.ndarray) -> None:
        """Normalized 7-d action -> new commanded pose -> IK -> motor targets (no stepping)."""
        a = denormalize_action(action)
        xyz, rpy = self.ee_pose()
        if np.linalg.norm(xyz - self.target_xyz) > REANCHOR_M:  # blocked: command from reality
            self.target_xyz = xyz.copy()
        self.target_xyz = np.clip(self.target_xyz + a[:3], WS_LOW, WS_HIGH)
        self.target_rpy = np.clip(self.target_rpy + a[3:6], RPY_LOW, RPY_HIGH)
        self.gripper_cmd = float(a[6])
        self._drive(self.solve_ik(self.target_xyz, self.target_rpy), self.gripper_cmd)

    def ee_pose(self) -> tuple[np.ndarray, np.ndarray]:
        pos, orn = pb.getLinkState(self.body, self.ee, computeForwardKinematics=True,
                                   physicsClientId=self.client)[4:6]
        return np.array(pos), matrix_to_rpy(quat_to_matrix(orn))

    def gripper_opening(self) -> float:
        """Measured finger opening in [0, 1] (1 = fully open)."""
        w = pb.getJointState(self.body, self.fingers[0], physicsClientId=self.client)[0]
        return float(np.clip((w - FINGER_MIN) / (FINGER_MAX - FINGER_MIN), 0.0, 1.0))

    def state(self) -> np.ndarray:
        xyz, rpy = self.ee_pose()
        return np.concatenate([xyz, rpy, [self.gripper_opening()]]).astype(np.float32)

    def finger_links(self) -> list[int]:
        return list(self.fingers)
