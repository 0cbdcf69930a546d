"""WidowX 250 (wx250s) forward kinematics and pose helpers, pure numpy.

Why: the sim, the real-arm bridge and the tests must agree on one end-effector frame
(`ee_gripper_link` in `base_link`), and the Interbotix product-of-exponentials (PoE) parameters are
the published definition of it (DESIGN.md s4). Poses travel as [x, y, z, roll, pitch, yaw] with the
fixed-axis XYZ convention (R = Rz(yaw) Ry(pitch) Rx(roll)), the one PyBullet and ROS tf use.
"""
from __future__ import annotations

import numpy as np

# Screw axes in the space frame, one column per joint: [w; v] (Interbotix mr_descriptions).
WX250S_SLIST = np.array([
    [0.0, 0.0, 1.0, 0.0, 0.0, 0.0],
    [0.0, 1.0, 0.0, -0.11065, 0.0, 0.0],
    [0.0, 1.0, 0.0, -0.36065, 0.0, 0.04975],
    [1.0, 0.0, 0.0, 0.0, 0.36065, 0.0],
    [0.0, 1.0, 0.0, -0.36065, 0.0, 0.29975],
    [1.0, 0.0, 0.0, 0.0, 0.36065, 0.0],
]).T
# Home pose of ee_gripper_link (all joints zero).
WX250S_M = np.array([
    [1.0, 0.0, 0.0, 0.458325],
    [0.0, 1.0, 0.0, 0.0],
    [0.0, 0.0, 1.0, 0.36065],
    [0.0, 0.0, 0.0, 1.0],
])
ARM_JOINTS = ('waist', 'shoulder', 'elbow', 'forearm_roll', 'wrist_angle', 'wrist_rotate')


def skew(w: np.ndarray) -> np.ndarray:
    """3-vector -> so(3) matrix, so that skew(w) @ v == cross(w, v)."""
    return np.array([[0.0, -w[2], w[1]], [w[2], 0.0, -w[0]], [-w[1], w[0], 0.0]])


def screw_exp(screw: np.ndarray, theta: float) -> np.ndarray:
    """exp([S] theta) in SE(3) for a unit screw axis S = [w; v] (Rodrigues, closed form)."""
    w, v = np.asarray(screw[:3], float), np.asarray(screw[3:], float)
    T = np.eye(4)
    if np.linalg.norm(w) < 1e-12:  # pure translation
        T[:3, 3] = v * theta
        return T
    W = skew(w)
    s, c = np.sin(theta), np.cos(theta)
    T[:3, :3] = np.eye(3) + s * W + (1.0 - c) * (W @ W)
    G = np.eye(3) * theta + (1.0 - c) * W + (theta - s) * (W @ W)
    T[:3, 3] = G @ v
    return T


def fk_space(M: np.ndarray, slist: np.ndarray, thetas: np.ndarray) -> np.ndarray:
    """T(theta) = e^[S1]t1 ... e^[Sn]tn M (Lynch & Park, eq. 4.14)."""
    thetas = np.asarray(thetas, float)
    if thetas.shape != (slist.shape[1],):
        raise ValueError(f'thetas: expected shape ({slist.shape[1]},), got {thetas.shape}')
    T = np.eye(4)
    for i, th in enumerate(thetas):
        T = T @ screw_exp(slist[:, i], th)
    return T @ M


def wx250s_fk(joints: np.ndarray) -> np.ndarray:
    """4x4 pose of ee_gripper_link in base_link for the 6 arm joint angles (rad)."""
    return fk_space(WX250S_M, WX250S_SLIST, joints)


def rpy_to_matrix(rpy: np.ndarray) -> np.ndarray:
    """Fixed-axis XYZ roll/pitch/yaw -> rotation matrix Rz(yaw) Ry(pitch) Rx(roll)."""
    r, p, y = rpy
    cr, sr, cp, sp, cy, sy = np.cos(r), np.sin(r), np.cos(p), np.sin(p), np.cos(y), np.sin(y)
    return np.array([
        [cy * cp, cy * sp * sr - sy * cr, cy * sp * cr + sy * sr],
        [sy * cp, sy * sp * sr + cy * cr, sy * sp * cr - cy * sr],
        [-sp, cp * sr, cp * cr],
    ])


def matrix_to_rpy(R: np.ndarray) -> np.ndarray:
    """Rotation matrix -> [roll, pitch, yaw] (inverse of rpy_to_matrix; yaw=0 at gimbal lock)."""
    sp = -R[2, 0]
    pitch = np.arcsin(np.clip(sp, -1.0, 1.0))
    if abs(sp) > 1.0 - 1e-9:  # gimbal lock: only roll -/+ yaw is defined; put it all in roll
        if sp > 0:
            return np.array([np.arctan2(R[0, 1], R[0, 2]), pitch, 0.0])
        return np.array([np.arctan2(-R[0, 1], -R[0, 2]), pitch, 0.0])
    return np.array([np.arctan2(R[2, 1], R[2, 2]), pitch, np.arctan2(R[1, 0], R[0, 0])])


def pose_to_xyzrpy(T: np.ndarray) -> np.ndarray:
    """4x4 homogeneous pose -> [x, y, z, roll, pitch, yaw]."""
    return np.concatenate([T[:3, 3], matrix_to_rpy(T[:3, :3])])


def xyzrpy_to_pose(v: np.ndarray) -> np.ndarray:
    """[x, y, z, roll, pitch, yaw] -> 4x4 homogeneous pose."""
    v = np.asarray(v, float)
    T = np.eye(4)
    T[:3, :3] = rpy_to_matrix(v[3:6])
    T[:3, 3] = v[:3]
    return T


def quat_to_matrix(q: np.ndarray) -> np.ndarray:
    """Unit quaternion [x, y, z, w] (PyBullet / ROS order) -> rotation matrix."""
    x, y, z, w = np.asarray(q, float) / np.linalg.norm(q)
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ])


def rotation_angle(Ra: np.ndarray, Rb: np.ndarray) -> float:
    """Angle (rad) of the relative rotation Ra^T Rb: the geodesic distance on SO(3)."""
    c = (np.trace(Ra.T @ Rb) - 1.0) / 2.0
    return float(np.arccos(np.clip(c, -1.0, 1.0)))
