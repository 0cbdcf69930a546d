"""The sim bridge's pure parts: the episode session and the lock-step gate."""
import numpy as np

from ptr_sim.session import SimSession


class RecordingEnv:
    """A 2-step episode env that records the actions and seeds it receives."""

    class spec:  # noqa: N801 - mirrors gymnasium's EnvSpec attribute
        """The env id gymnasium's EnvSpec would carry."""

        id = 'ptr_sim/OpenDoor-v0'

    def __init__(self, succeed_at=2):
        self.actions, self.seeds, self.t, self.succeed_at = [], [], 0, succeed_at

    def _obs(self):
        state = np.array([0.3, 0, 0.2, 0, 0, 0, 0.25], np.float32)
        return {'image': np.full((8, 8, 3), self.t, np.uint8), 'state': state}

    def reset(self, seed=None):
        self.seeds.append(seed)
        self.t = 0
        return self._obs(), {}

    def step(self, action):
        self.actions.append(np.array(action))
        self.t += 1
        success = self.t >= self.succeed_at
        return self._obs(), float(success), success, False, {'success': success}


def test_session_reports_episode_end_and_keeps_stepping_until_reset():
    env = RecordingEnv(succeed_at=2)
    s = SimSession(env, seed=10)
    assert s.task == 'OpenDoor'
    first = s.reset()
    assert (first.step, first.episode, first.done) == (0, 0, False)
    out, _ = s.step([5.0] + [0.0] * 6)
    assert out.step == 1 and not out.done
    np.testing.assert_allclose(env.actions[-1][0], 1.0)  # the env got the clamped action
    out, _ = s.step(np.zeros(7))
    assert out.success and out.terminated and out.reward == 1.0
    after, _ = s.step(np.zeros(7))  # the reset policy still drives the arm after the end
    assert after.step == 3 and len(env.actions) == 3
    second = s.reset()
    assert second.episode == 1
    assert env.seeds == [10, 11]  # one seed per episode: reproducible, not repeated
    assert s.ticks == 3


def test_session_holds_keep_the_commanded_gripper_until_a_reset():
    env = RecordingEnv(succeed_at=9)
    s = SimSession(env)
    s.reset()
    assert s.hold()[6] == np.float32(-0.5)  # nothing commanded yet: the measured 0.25
    s.step([0, 0, 0, 0, 0, 0, -1.0])  # close (the state still reads 0.25: an object)
    np.testing.assert_array_equal(s.hold(), [0, 0, 0, 0, 0, 0, -1.0])
    s.step([0.5] * 3)  # malformed: held, the gripper kept closed
    np.testing.assert_array_equal(env.actions[-1], [0, 0, 0, 0, 0, 0, -1.0])
    s.reset()
    assert s.hold()[6] == np.float32(-0.5)


def test_lockstep_gate_waits_for_action_and_reward_of_the_current_observation():
    from ptr_sim.session import LockstepGate
    a = np.ones(7, np.float32)
    g = LockstepGate(wait_reward=True)
    g.observe(100)
    assert g.on_action(90, a) is None  # stale: computed from an older observation
    assert g.on_reward(90) is None
    assert g.on_action(100, a) is None  # no reward yet
    assert g.on_reward(100) is a  # both there: step
    assert g.on_action(100, a) is None and g.on_reward(100) is None  # once per observation
    g.observe(200)
    assert g.on_reward(200) is None
    assert g.on_action(None, 2 * a)[0] == 2  # untagged (teleop) counts for the current one
    plain = LockstepGate(wait_reward=False)
    plain.observe(5)
    assert plain.on_action(5, a) is a


def test_camera_offset_moves_the_task_camera_eye():
    from ptr_sim.bridge_node import make_env
    base = make_env('OpenDoor', 48, 0, [0.0, 0.0, 0.0])
    moved = make_env('OpenDoor', 48, 0, [0.03, 0.0, -0.02])
    try:
        eye0 = np.array(base.unwrapped.camera_config.eye)
        eye1 = np.array(moved.unwrapped.camera_config.eye)
        np.testing.assert_allclose(eye1 - eye0, [0.03, 0.0, -0.02], atol=1e-9)
        img0 = base.reset(seed=0)[0]['image']
        img1 = moved.reset(seed=0)[0]['image']
        assert np.abs(img0.astype(int) - img1).mean() > 1.0  # the view really changed
    finally:
        base.close()
        moved.close()
