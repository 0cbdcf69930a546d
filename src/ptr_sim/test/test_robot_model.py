"""The PyBullet wx250s (built from the Interbotix xacro) against the PoE model of DESIGN.md s4."""
import numpy as np
import pybullet as pb

from ptr_core.kinematics import ARM_JOINTS, quat_to_matrix, rotation_angle, wx250s_fk
from ptr_sim.robot_model import urdf_path


def test_urdf_is_cached_and_regenerated(tmp_path, monkeypatch):
    monkeypatch.setenv('PTR_CACHE', str(tmp_path))
    first = urdf_path()
    assert first.parent == tmp_path and 'package://' not in first.read_text()
    first.unlink()
    again = urdf_path()
    assert again == first and again.is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([first.name, 'meshes'])
    assert not [p for p in tmp_path.rglob('.*')]  # no temporary debris


def test_ee_gripper_link_matches_poe_at_random_configurations():
    cid = pb.connect(pb.DIRECT)
    try:
        body = pb.loadURDF(str(urdf_path()), useFixedBase=True, physicsClientId=cid)
        joints = {pb.getJointInfo(body, j, physicsClientId=cid)[1].decode(): j
                  for j in range(pb.getNumJoints(body, physicsClientId=cid))}
        links = {pb.getJointInfo(body, j, physicsClientId=cid)[12].decode(): j
                 for j in range(pb.getNumJoints(body, physicsClientId=cid))}
        ee = links['wx250s/ee_gripper_link']
        rng = np.random.default_rng(7)
        worst_mm, worst_deg = 0.0, 0.0
        for _ in range(25):
            q = np.array([rng.uniform(*pb.getJointInfo(body, joints[n], physicsClientId=cid)[8:10])
                          for n in ARM_JOINTS])
            for n, v in zip(ARM_JOINTS, q):
                pb.resetJointState(body, joints[n], v, physicsClientId=cid)
            pos, orn = pb.getLinkState(body, ee, computeForwardKinematics=True,
                                       physicsClientId=cid)[4:6]
            T = wx250s_fk(q)
            worst_mm = max(worst_mm, 1000 * np.linalg.norm(np.array(pos) - T[:3, 3]))
            worst_deg = max(worst_deg, np.degrees(rotation_angle(quat_to_matrix(orn), T[:3, :3])))
        assert worst_mm < 2.0 and worst_deg < 1.0, (worst_mm, worst_deg)
    finally:
        pb.disconnect(cid)
