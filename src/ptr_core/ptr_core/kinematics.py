"""WidowX 250 (wx250s) forward kinematics and pose helpers, pure numpy.

Why: the sim, the real-arm bridge and the tests must agree on one end-effector frame
(`ee_gripper_link` in `base_link`), and the Interbotix product-of-exponentials (PoE) parameters are
the published definition of it (DESIGN.md s4). Poses travel as [x, y, z, roll, pitch, yaw] with the
fixed-axis XYZ convention (R = Rz(yaw) Ry(pitch) Rx(roll)), the one PyBullet and ROS tf use.
"""
from __future__ import annotations

import math

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
    """The so(3) matrix of a 3-vector w: its product with v is the cross product w x v."""
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


def adjoint(T: np.ndarray) -> np.ndarray:
    """6x6 adjoint of a pose, acting on twists [w; v]."""
    R, p = T[:3, :3], T[:3, 3]
    out = np.zeros((6, 6))
    out[:3, :3] = R
    out[3:, 3:] = R
    out[3:, :3] = skew(p) @ R
    return out


def jacobian_space(slist: np.ndarray, thetas: np.ndarray) -> np.ndarray:
    """Space Jacobian: column i = Ad(e^[S1]t1 ... e^[S(i-1)]t(i-1)) S_i (Lynch & Park 5.11)."""
    J = np.array(slist, dtype=float, copy=True)
    T = np.eye(4)
    for i in range(1, slist.shape[1]):
        T = T @ screw_exp(slist[:, i - 1], thetas[i - 1])
        J[:, i] = adjoint(T) @ slist[:, i]
    return J


def log_rotation(R: np.ndarray) -> np.ndarray:
    """Rotation vector (axis * angle) of R."""
    c = np.clip((np.trace(R) - 1.0) / 2.0, -1.0, 1.0)
    angle = np.arccos(c)
    v = np.array([R[2, 1] - R[1, 2], R[0, 2] - R[2, 0], R[1, 0] - R[0, 1]])
    if angle < 1e-9:
        return 0.5 * v
    if np.pi - angle < 1e-6:  # axis from the symmetric part
        axis = np.sqrt(np.maximum((np.diag(R) + 1.0) / 2.0, 0.0))
        axis[1] = np.copysign(axis[1], R[0, 1]) if axis[0] > 1e-6 else axis[1]
        axis[2] = np.copysign(axis[2], R[0, 2]) if axis[0] > 1e-6 else np.copysign(axis[2],
                                                                                   R[1, 2])
        return axis * angle
    return v * angle / (2.0 * np.sin(angle))


_I3 = np.eye(3)


def _cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """np.cross for 3-vectors without its dispatch overhead (10x faster at this size)."""
    return np.array([a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2],
                     a[0] * b[1] - a[1] * b[0]])


class _Chain:
    """Per-joint constants of exp([S] t) = I + sin t W + (1 - cos t) W^2 (unit rotation axes),
    precomputed once so one FK + Jacobian pass is a few small array operations."""

    def __init__(self, slist: np.ndarray, M: np.ndarray) -> None:
        self.n = slist.shape[1]
        self.w = [slist[:3, i].copy() for i in range(self.n)]
        self.v = [slist[3:, i].copy() for i in range(self.n)]
        self.W = [skew(w) for w in self.w]
        self.WW = [W @ W for W in self.W]
        self.Wv = [W @ v for W, v in zip(self.W, self.v)]
        self.WWv = [WW @ v for WW, v in zip(self.WW, self.v)]
        self.M = M

    def fk_jac(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Pose and 6xn geometric Jacobian ([w; linear velocity of the EE point])."""
        R, p = np.eye(3), np.zeros(3)
        J = np.empty((6, self.n))
        for i in range(self.n):
            J[:3, i] = R @ self.w[i]  # the twist of joint i in the space frame: Ad(T_{i-1}) S_i
            J[3:, i] = R @ self.v[i] + _cross(p, J[:3, i])
            t = float(q[i])
            s, c = math.sin(t), math.cos(t)
            Ri = _I3 + s * self.W[i] + (1.0 - c) * self.WW[i]
            pi = t * self.v[i] + (1.0 - c) * self.Wv[i] + (t - s) * self.WWv[i]
            p = R @ pi + p
            R = R @ Ri
        T = np.eye(4)
        T[:3, :3] = R @ self.M[:3, :3]
        T[:3, 3] = R @ self.M[:3, 3] + p
        J[3:] -= skew(T[:3, 3]) @ J[:3]  # space twist -> velocity of the EE point
        return T, J


_WX250S = _Chain(WX250S_SLIST, WX250S_M)


def wx250s_ik(target: np.ndarray, q0: np.ndarray, lower: np.ndarray | None = None,
              upper: np.ndarray | None = None, iterations: int = 8, tol: float = 1e-5,
              damping: float = 1e-6) -> tuple[np.ndarray, float]:
    """Damped Newton IK on the PoE model: 4x4 target pose -> (joints, final position error m).

    Why ours and not PyBullet's calculateInverseKinematics: that one takes small steps (2 cm off
    after 20 iterations, 2 mm after 100 here), so commanded end-effector deltas came out short;
    Newton steps on the exact model converge to micrometres in 2-4 iterations.
    """
    q = np.array(q0, dtype=float)
    for _ in range(iterations):
        T, J = _WX250S.fk_jac(q)
        e = np.concatenate([log_rotation(target[:3, :3] @ T[:3, :3].T), target[:3, 3] - T[:3, 3]])
        if np.linalg.norm(e[3:]) < tol and np.linalg.norm(e[:3]) < 10 * tol:
            break
        q = q + np.linalg.solve(J.T @ J + damping * np.eye(6), J.T @ e)
        if lower is not None and upper is not None:
            q = np.clip(q, lower, upper)
    err = float(np.linalg.norm(target[:3, 3] - _WX250S.fk_jac(q)[0][:3, 3]))
    return q, err
