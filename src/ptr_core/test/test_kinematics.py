"""PoE forward kinematics and pose helpers against independent hand computations."""
import numpy as np
import pytest

from ptr_core import kinematics as K


def _expm(A: np.ndarray) -> np.ndarray:
    """Matrix exponential by scaling and squaring of a Taylor series (independent of Rodrigues)."""
    n = max(0, int(np.ceil(np.log2(max(np.abs(A).sum(), 1e-12)))) + 4)
    B = A / (2 ** n)
    E, term = np.eye(A.shape[0]), np.eye(A.shape[0])
    for k in range(1, 20):
        term = term @ B / k
        E = E + term
    for _ in range(n):
        E = E @ E
    return E


def _se3(screw):
    out = np.zeros((4, 4))
    out[:3, :3] = K.skew(screw[:3])
    out[:3, 3] = screw[3:]
    return out


def test_home_pose_is_M():
    np.testing.assert_allclose(K.wx250s_fk(np.zeros(6)), K.WX250S_M, atol=1e-12)


def test_screw_exp_matches_series_expm():
    rng = np.random.default_rng(0)
    for i in range(6):
        th = rng.uniform(-3, 3)
        S = K.WX250S_SLIST[:, i]
        np.testing.assert_allclose(K.screw_exp(S, th), _expm(_se3(S) * th), atol=1e-9)


def test_waist_rotates_the_gripper_about_z():
    q = np.array([np.pi / 2, 0, 0, 0, 0, 0])
    T = K.wx250s_fk(q)
    # Hand computation: a 90 deg waist turn maps the home point (0.458325, 0, 0.36065) to +y.
    np.testing.assert_allclose(T[:3, 3], [0.0, 0.458325, 0.36065], atol=1e-12)


def test_elbow_down_by_90_deg_hand_computed():
    # Elbow axis passes through x=0.04975, z=0.36065; rotating +90 deg about +y swings the
    # 0.408575 m forearm from +x to -z.
    q = np.array([0, 0, np.pi / 2, 0, 0, 0])
    T = K.wx250s_fk(q)
    np.testing.assert_allclose(T[:3, 3], [0.04975, 0.0, 0.36065 - 0.408575], atol=1e-12)


def test_rpy_roundtrip_and_convention():
    rng = np.random.default_rng(1)
    for _ in range(50):
        rpy = rng.uniform([-np.pi, -1.5, -np.pi], [np.pi, 1.5, np.pi])
        np.testing.assert_allclose(K.matrix_to_rpy(K.rpy_to_matrix(rpy)), rpy, atol=1e-9)
    # Fixed-axis XYZ: R = Rz(yaw) Ry(pitch) Rx(roll).
    r, p, y = 0.3, -0.4, 1.1
    Rx = np.array([[1, 0, 0], [0, np.cos(r), -np.sin(r)], [0, np.sin(r), np.cos(r)]])
    Ry = np.array([[np.cos(p), 0, np.sin(p)], [0, 1, 0], [-np.sin(p), 0, np.cos(p)]])
    Rz = np.array([[np.cos(y), -np.sin(y), 0], [np.sin(y), np.cos(y), 0], [0, 0, 1]])
    np.testing.assert_allclose(K.rpy_to_matrix([r, p, y]), Rz @ Ry @ Rx, atol=1e-12)


@pytest.mark.parametrize('pitch', [np.pi / 2, -np.pi / 2])
def test_rpy_gimbal_lock_reconstructs_the_rotation(pitch):
    R = K.rpy_to_matrix([0.7, pitch, 0.2])
    np.testing.assert_allclose(K.rpy_to_matrix(K.matrix_to_rpy(R)), R, atol=1e-9)


def test_pose_roundtrip_and_quaternion():
    v = np.array([0.3, -0.1, 0.2, 0.5, -0.3, 2.0])
    np.testing.assert_allclose(K.pose_to_xyzrpy(K.xyzrpy_to_pose(v)), v, atol=1e-12)
    # 90 deg about z as quaternion [0, 0, sin45, cos45].
    s = np.sqrt(0.5)
    np.testing.assert_allclose(K.quat_to_matrix([0, 0, s, s]),
                               [[0, -1, 0], [1, 0, 0], [0, 0, 1]], atol=1e-12)
    assert K.rotation_angle(np.eye(3), K.rpy_to_matrix([0, 0, 0.4])) == pytest.approx(0.4)


def test_bad_joint_vector_is_named():
    with pytest.raises(ValueError, match='thetas: expected shape'):
        K.wx250s_fk(np.zeros(5))


def test_space_jacobian_matches_finite_differences_of_fk():
    q = np.array([0.3, -0.4, 0.5, 0.2, 1.1, -0.3])
    J = K.jacobian_space(K.WX250S_SLIST, q)
    T = K.wx250s_fk(q)
    eps = 1e-6
    for i in range(6):
        dq = np.zeros(6)
        dq[i] = eps
        dT = (K.wx250s_fk(q + dq) - T) / eps
        twist = dT @ np.linalg.inv(T)  # [V_s] = dT T^-1
        np.testing.assert_allclose([twist[2, 1], twist[0, 2], twist[1, 0]], J[:3, i], atol=1e-5)
        np.testing.assert_allclose(twist[:3, 3], J[3:, i], atol=1e-5)


def test_ik_reaches_fk_poses_from_a_nearby_seed():
    rng = np.random.default_rng(3)
    lower = np.array([-3.14, -1.88, -2.14, -3.14, -1.74, -3.14])
    upper = np.array([3.14, 1.98, 1.6, 3.14, 2.14, 3.14])
    for _ in range(30):
        q = rng.uniform(0.6 * lower, 0.6 * upper)
        T = K.wx250s_fk(q)
        q2, err = K.wx250s_ik(T, q + rng.normal(0, 0.05, 6), lower, upper)
        T2 = K.wx250s_fk(q2)
        assert err < 1e-4 and np.linalg.norm(T2[:3, 3] - T[:3, 3]) < 1e-4
        assert K.rotation_angle(T[:3, :3], T2[:3, :3]) < 1e-3


def test_log_rotation_inverts_axis_angle():
    for axis, angle in [((0, 0, 1), 0.7), ((1, 1, 0), 2.0), ((0, 1, 0), 1e-10)]:
        w = np.asarray(axis, float) / np.linalg.norm(axis) * angle
        np.testing.assert_allclose(K.log_rotation(K.screw_exp(np.r_[w / angle, 0, 0, 0], angle)
                                                  [:3, :3]), w, atol=1e-9)
