"""ptr_arm.arm_control.ArmController over the Interbotix adapter and the API stand-in: targets
accumulate on the target pose, the workspace clip, refusals hold, the gripper latch, the state's
FK (hand-computed numbers), timeouts and the reset."""
import math
import time

import numpy as np
import pytest

from ptr_arm.arm_control import ArmConfig, ArmController, state_from_joints
from ptr_arm.hardware import InterbotixArm

POS, ROT = 0.05, 0.25  # physical size of a normalized 1.0 delta (m, rad)


def act(dx=0.0, dy=0.0, dz=0.0, droll=0.0, dpitch=0.0, dyaw=0.0, g=1.0):
    """A normalized action from physical deltas and an absolute gripper command."""
    return np.array([dx / POS, dy / POS, dz / POS, droll / ROT, dpitch / ROT, dyaw / ROT,
                     2.0 * g - 1.0], dtype=np.float32)


def make(interbotix, before=None, **cfg):
    """A controller on a fresh stand-in, reset home, with the call log cleared."""
    bot = interbotix.InterbotixManipulatorXS(robot_model='wx250s', node=None)
    if before is not None:
        before(bot)
    arm = ArmController(InterbotixArm(bot), ArmConfig(**cfg))
    assert arm.reset().moved
    interbotix.CALLS.clear()
    return bot, arm


def planned(interbotix, key):
    return [kw[key] for kw in interbotix.calls('set_ee_pose_components')]


def test_deltas_accumulate_on_the_target_not_the_measured_pose(interbotix):
    bot, arm = make(interbotix)
    bot.arm.frozen = True  # the arm lags: its joints stay home whatever is sent
    for a in (act(dx=0.05), act(dx=0.05, dz=-0.02)):
        assert arm.step(a).moved
    assert planned(interbotix, 'x') == pytest.approx([0.33, 0.38], abs=1e-6)
    assert planned(interbotix, 'z') == pytest.approx([0.18, 0.16], abs=1e-6)
    assert planned(interbotix, 'pitch') == pytest.approx([1.3, 1.3], abs=1e-6)
    assert planned(interbotix, 'yaw') == pytest.approx([0.0, 0.0], abs=1e-6)  # never None
    plans = interbotix.calls('set_ee_pose_components')
    assert all(kw['execute'] is False and kw['blocking'] is False for kw in plans)
    np.testing.assert_allclose(plans[1]['custom_guess'],  # seeded with the last joints sent
                               interbotix.calls('set_joint_positions')[0]['joint_positions'])
    sends = interbotix.calls('set_joint_positions')
    assert [(kw['moving_time'], kw['accel_time'], kw['blocking']) for kw in sends] == \
        [(0.2, 0.05, False)] * 2
    assert arm.state()[0] == pytest.approx(0.28, abs=1e-4)  # measured: still home


def test_target_is_clipped_to_the_workspace_box(interbotix):
    bot, arm = make(interbotix)
    reports = [arm.step(act(dz=0.05)) for _ in range(5)]
    assert planned(interbotix, 'z') == pytest.approx([0.23, 0.28, 0.33, 0.35], abs=1e-6)
    assert [r.moved for r in reports] == [True, True, True, True, False]
    assert reports[-1].reason == ''  # at the wall a step is a plain hold
    arm.step(act(dpitch=0.25))  # 1.3 + 0.25 -> RPY_HIGH 1.45
    assert planned(interbotix, 'pitch')[-1] == pytest.approx(1.45, abs=1e-6)
    custom = ArmConfig(workspace_high=(0.30, 0.30, 0.35))
    _, arm = make(interbotix, workspace_high=custom.workspace_high)
    arm.step(act(dx=0.05))
    assert planned(interbotix, 'x') == pytest.approx([0.30], abs=1e-6)


def test_ik_failure_holds_and_keeps_the_last_good_target(interbotix):
    bot, arm = make(interbotix)
    assert arm.step(act(dx=0.05)).moved
    bot.arm.fail_ik = True
    report = arm.step(act(dx=0.05))
    assert not report.moved and report.reason.startswith('IK: no solution')
    assert report.target[0] == pytest.approx(0.33, abs=1e-6)
    bot.arm.fail_ik = False
    assert arm.step(act(dx=0.05)).moved
    assert planned(interbotix, 'x') == pytest.approx([0.33, 0.38, 0.38], abs=1e-6)
    assert len(interbotix.calls('set_joint_positions')) == 2  # nothing sent for the failure
    assert arm.counts['ik_failures'] == 1 and arm.counts['holds'] == 1


def test_joint_limit_and_joint_jump_are_refused_before_sending(interbotix):
    def narrow(bot):  # an IK answer the driver would not check: ours must catch it
        bot.arm.check_limits = False
        bot.arm.group_info.joint_upper_limits[0] = 0.1  # waist at most 0.1 - margin 0.02 rad

    bot, arm = make(interbotix, before=narrow)
    # The waist points at the wrist centre, 0.158575 m behind ee_gripper_link along the tool
    # axis (pitch 1.3): atan2(0.05, 0.28 - 0.158575 cos 1.3) = 0.207 rad
    report = arm.step(act(dy=0.05))
    assert not report.moved and report.reason.startswith('joint limit: waist +0.207 rad')
    assert report.target[1] == pytest.approx(0.0)
    home_q = np.asarray(arm.joints)
    bot.arm.solution = home_q + [0, 0, 0, 0, 0, 0.8]  # a wrist flip in one step
    report = arm.step(act(dx=0.01))
    assert not report.moved and report.reason.startswith('joint step 0.800 rad')
    assert interbotix.calls('set_joint_positions') == []
    assert arm.counts['limit_refusals'] == 1 and arm.counts['jump_refusals'] == 1
    assert arm.step(act(dx=0.01)).moved  # the next good answer goes through


def test_gripper_grasps_and_releases_only_on_change(interbotix):
    bot, arm = make(interbotix)  # the reset opened it
    for g in (1.0, 0.0, 0.0, 0.5, 0.45, 0.9, 1.0, 0.55):
        arm.step(act(g=g))
        if g == 0.0:
            assert arm.state()[6] == pytest.approx(0.0)
    names = [n for n, _ in interbotix.CALLS if n in ('grasp', 'release')]
    assert names == ['grasp', 'release']
    assert interbotix.calls('grasp') == [{'delay': 0.0}]
    assert arm.state()[6] == pytest.approx(1.0)
    assert arm.counts['gripper_commands'] == 2


def test_a_hold_keeps_a_grasp_on_a_thick_object(interbotix):
    bot, arm = make(interbotix)
    np.testing.assert_array_equal(arm.hold_action(), [0, 0, 0, 0, 0, 0, 1.0])
    arm.step(act(g=0.0))
    bot.gripper._finger(0.035)  # closed on a 7 cm object: the fingers read 91 % open
    assert arm.state()[6] > 0.9
    for _ in range(3):
        assert arm.step(arm.hold_action()).reason == ''
    assert [n for n, _ in interbotix.CALLS if n in ('grasp', 'release')] == ['grasp']


def test_state_is_the_fk_of_the_joints_by_hand():
    np.testing.assert_allclose(state_from_joints(np.zeros(6), 1.0),
                               [0.458325, 0, 0.36065, 0, 0, 0, 1], atol=1e-6)
    # waist 90 deg: the stretched arm points along +y
    np.testing.assert_allclose(state_from_joints([math.pi / 2, 0, 0, 0, 0, 0], 0.25),
                               [0, 0.458325, 0.36065, 0, 0, math.pi / 2, 0.25], atol=1e-6)
    # shoulder 30 deg about +y through (0, 0, 0.11065): (0.458325, 0.25) turns to
    # (0.458325 cos30 + 0.25 sin30, 0.11065 - 0.458325 sin30 + 0.25 cos30), pitch 30 deg
    np.testing.assert_allclose(state_from_joints([0, math.pi / 6, 0, 0, 0, 0], 2.0),
                               [0.521921, 0, 0.097994, 0, math.pi / 6, 0, 1.0], atol=1e-6)


def test_state_follows_the_measured_joints(interbotix):
    bot, arm = make(interbotix)
    arm.step(act(dx=0.05, dyaw=0.25, g=0.0))
    s = arm.state()
    np.testing.assert_allclose(s, state_from_joints(bot.arm.get_joint_positions(), 0.0),
                               atol=1e-6)
    np.testing.assert_allclose(s[:6], [0.33, 0, 0.18, 0, 1.3, 0.25], atol=1e-4)


def test_timeouts_and_errors_hold_and_count(interbotix):
    bot, arm = make(interbotix, command_timeout=0.05)
    bot.arm.delay = 0.3
    r = arm.step(act(dx=0.05))
    assert not r.moved and r.reason == 'plan: no return within 0.05 s'
    bot.arm.delay = 0.0
    r = arm.step(act(dx=0.05))  # the slow call still runs: skipped, not queued
    assert not r.moved and 'earlier command has not returned' in r.reason
    time.sleep(0.35)
    assert arm.step(act(dx=0.05)).moved
    assert planned(interbotix, 'x')[-1] == pytest.approx(0.33, abs=1e-6)
    bot.arm.error = RuntimeError('bus error')
    r = arm.step(act(dx=0.05))
    assert not r.moved and r.reason == 'plan: RuntimeError: bus error'
    assert arm.target[0] == pytest.approx(0.33, abs=1e-6)
    assert {k: arm.counts[k] for k in ('timeouts', 'busy', 'errors', 'holds')} == \
        {'timeouts': 1, 'busy': 1, 'errors': 1, 'holds': 3}


def test_bad_actions_hold(interbotix):
    _, arm = make(interbotix)
    for bad in (np.full(7, np.nan), np.zeros(5)):
        r = arm.step(bad)
        assert not r.moved and r.reason.startswith('action: expected 7 finite floats')
    assert interbotix.calls('set_ee_pose_components') == []


def test_reset_sequence_and_its_failure(interbotix):
    bot = interbotix.InterbotixManipulatorXS(robot_model='wx250s', node=None)
    arm = ArmController(InterbotixArm(bot), ArmConfig())
    assert arm.target[2] < 0.15  # before a reset: where the arm is (sleep pose), clipped
    r = arm.reset()
    assert r.moved
    names = [n for n, _ in interbotix.CALLS if n != 'InterbotixManipulatorXS']
    assert names == ['release', 'set_trajectory_time', 'set_ee_pose_components',
                     'set_joint_positions', 'set_trajectory_time']
    times = interbotix.calls('set_trajectory_time')
    assert [(kw['moving_time'], kw['accel_time']) for kw in times] == [(2.0, 0.3), (0.2, 0.05)]
    home = interbotix.calls('set_ee_pose_components')[0]
    assert (home['x'], home['y'], home['z'], home['roll'], home['pitch'], home['yaw']) == \
        pytest.approx((0.28, 0.0, 0.18, 0.0, 1.3, 0.0))
    np.testing.assert_allclose(home['custom_guess'], arm.home_q)
    assert interbotix.calls('set_joint_positions')[0]['blocking'] is True
    np.testing.assert_allclose(arm.state()[:6], [0.28, 0, 0.18, 0, 1.3, 0], atol=1e-4)
    bot.arm.fail_ik = True
    r = arm.reset()
    assert not r.moved and r.reason.startswith('reset: IK: no solution for home')
    assert arm.counts['resets'] == 1 and arm.counts['reset_failures'] == 1


def test_dry_run_plans_but_sends_nothing(interbotix):
    bot = interbotix.InterbotixManipulatorXS(robot_model='wx250s', node=None)
    arm = ArmController(InterbotixArm(bot), ArmConfig(dry_run=True))
    assert arm.reset().moved
    arm.step(act(dx=0.05, g=0.0))
    assert planned(interbotix, 'x') == pytest.approx([0.28, 0.33], abs=1e-6)
    sent = {'set_joint_positions', 'grasp', 'release', 'set_trajectory_time'}
    assert not [n for n, _ in interbotix.CALLS if n in sent]


@pytest.mark.parametrize('bad', [{'accel_time': 0.15}, {'grasp_below': 0.7},
                                 {'workspace_low': (0.6, -0.3, 0.015)},
                                 {'reset_timeout': 1.0}])
def test_config_is_validated_in_one_line(bad):
    with pytest.raises(ValueError, match=r'^arm: [^\n]+$'):
        ArmConfig(**bad).validate()
