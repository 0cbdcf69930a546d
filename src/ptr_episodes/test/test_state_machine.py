"""EpisodeRecorder / EpisodeManager: assembling transitions by stamp, and ending episodes."""
import numpy as np
import pytest

from ptr_episodes.state_machine import (
    EpisodeManager,
    EpisodeRecorder,
    ManagerConfig,
    unconnected_inputs,
)


def img(k):
    return np.full((4, 4, 3), k, np.uint8)


def state(k):
    return np.full(7, k / 10, np.float32)


def act(k):
    return np.full(7, k / 100, np.float32)


def run_steps(m, rewards, start=0, shuffle=False):
    """Obs k at stamp 100*k; action for obs k; classifier reward rewards[k] for obs k."""
    events = []
    for k, r in enumerate(rewards, start):
        events += [('obs', k), ('reward', k, r), ('act', k)]
    if shuffle:  # rewards and actions may arrive before or after their observation
        order = np.random.default_rng(0).permutation(len(events))
        # ...but observations keep their order (a bridge publishes them in sequence).
        obs_events = iter([e for e in events if e[0] == 'obs'])
        events = [next(obs_events) if events[i][0] == 'obs' else events[i] for i in order]
    return_order = []
    for e in events:
        return_order.append(e)
        if e[0] == 'obs':
            m.on_observation(100 * e[1], img(e[1]), state(e[1]))
        elif e[0] == 'reward':
            m.on_reward(100 * e[1], e[2], 0.9 if e[2] else 0.1)
        else:
            m.on_action(100 * e[1], act(e[1]))
    return return_order


def test_success_ends_episode_with_terminal_transition():
    m = EpisodeManager(ManagerConfig(horizon=10, success_frames=1), 'OpenDoor')
    m.start()
    run_steps(m, [0, 0, 0, 1, 0, 0])  # obs 3 is the first success -> transitions 0..2
    assert m.end_reason() == ('success', 3)
    tr = m.finish('success', 3, {'weights_version': 2})
    assert len(tr) == 3 and tr.success
    np.testing.assert_array_equal(tr.rewards, [0, 0, 1])
    np.testing.assert_array_equal(tr.terminals, [False, False, True])
    np.testing.assert_array_equal(tr.images[:, 0, 0, 0], [0, 1, 2, 3])
    np.testing.assert_allclose(tr.actions[:, 0], [0, 0.01, 0.02])
    assert tr.meta['weights_version'] == 2 and tr.meta['probs'] == [0.1, 0.1, 0.9]
    assert m.finished == 1 and m.env_steps == 3 and m.phase == 'ending'


def test_a_success_must_hold_on_consecutive_frames():
    m = EpisodeManager(ManagerConfig(horizon=10), 'OpenDoor')
    assert m.cfg.success_frames == 2  # the default (ptr_core.constants.SUCCESS_FRAMES)
    m.start()
    # A lone rewarded frame (obs 2) is a near miss; obs 4 and 5 in a row are a success.
    run_steps(m, [1, 0, 1, 0, 1, 1, 0])
    assert m.end_reason() == ('success', 5)
    tr = m.finish('success', 5)
    np.testing.assert_array_equal(tr.rewards, [0, 1, 0, 1, 1])
    np.testing.assert_array_equal(tr.terminals, [False] * 4 + [True])
    three = EpisodeManager(ManagerConfig(horizon=10, success_frames=3), 'OpenDoor')
    three.start()
    run_steps(three, [0, 1, 1, 0, 1, 1, 1])
    assert three.end_reason() == ('success', 6)
    with pytest.raises(ValueError, match='success_frames'):
        ManagerConfig(success_frames=0).validate()


def test_out_of_order_delivery_gives_the_same_episode():
    a = EpisodeManager(ManagerConfig(horizon=4), 'T')
    b = EpisodeManager(ManagerConfig(horizon=4), 'T')
    a.start()
    b.start()
    run_steps(a, [0] * 7)
    order = run_steps(b, [0] * 7, shuffle=True)
    # The shuffle really delivers some actions before their observations.
    assert any(order.index(('act', k)) < order.index(('obs', k)) for k in range(7))
    assert a.end_reason() == b.end_reason() == ('timeout', 4)
    ta, tb = a.finish('timeout', 4), b.finish('timeout', 4)
    np.testing.assert_array_equal(ta.images, tb.images)
    np.testing.assert_array_equal(ta.actions, tb.actions)
    assert not ta.terminals.any() and not ta.success  # a timeout is not terminal


def test_incomplete_transitions_wait():
    m = EpisodeManager(ManagerConfig(horizon=2, success_frames=1), 'T')
    m.start()
    m.on_observation(0, img(0), state(0))
    m.on_action(0, act(0))
    m.on_observation(100, img(1), state(1))
    assert m.end_reason() is None  # reward of obs 1 missing
    m.on_reward(100, 1.0)
    assert m.end_reason() == ('success', 1)


def test_resends_and_duplicate_actions_are_ignored():
    rec = EpisodeRecorder()
    assert rec.add_observation(0, img(0), state(0))
    assert not rec.add_observation(0, img(9), state(9))  # resend
    assert rec.add_action(0, act(1)) and not rec.add_action(0, act(2))
    assert not rec.add_action(-5, act(3))  # older than the episode
    assert rec.add_observation(100, img(1), state(1))
    assert rec.add_action(None, act(4))  # untagged (teleop): the newest observation
    np.testing.assert_allclose(rec.actions[100], act(4))


def test_env_done_and_sim_success():
    m = EpisodeManager(ManagerConfig(horizon=50, end_on_success=False), 'T')
    m.start()
    run_steps(m, [0, 0, 0])
    m.on_env_status(200, success=True, done=True)
    assert m.end_reason() == ('env_done', 2)
    tr = m.finish('env_done', 2)
    assert tr.meta['sim_success'] and not tr.success
    assert m.history[-1]['sim_success']


def test_phases_reset_pause_resume_done():
    m = EpisodeManager(ManagerConfig(max_episodes=2), 'T')
    m.start()
    m.finish('stalled', 0)
    assert m.history[-1]['sent'] is False  # nothing complete: not sent
    assert m.after_reset(False, 'ESCALATE: stuck') == 'paused' and m.pause_reason
    m.on_observation(0, img(0), state(0))
    assert m.end_reason() is None
    assert m.resume() and m.phase == 'idle'
    m.start()
    assert m.after_reset(True) == 'done'
    with pytest.raises(ValueError, match='end reason'):
        m.finish('bored', 1)


def test_start_stamp_drops_stale_observations():
    m = EpisodeManager(ManagerConfig(horizon=2), 'T')
    m.start()
    m.on_observation(50, img(9), state(9))  # a resend of the previous episode's last frame
    run_steps(m, [0, 0, 0], start=1)
    m.set_start_stamp(100)
    assert m.end_reason() == ('timeout', 2)
    np.testing.assert_array_equal(m.finish('timeout', 2).images[:, 0, 0, 0], [1, 2, 3])


def test_horizon_zero_waits_for_the_env():
    m = EpisodeManager(ManagerConfig(horizon=0), 'T')
    m.start()
    run_steps(m, [0] * 60)
    assert m.end_reason() is None
    m.on_env_status(100 * 59, success=False, done=True)
    assert m.end_reason() == ('env_done', 59)
    with pytest.raises(ValueError, match='horizon'):
        ManagerConfig(horizon=-1).validate()


def test_a_lost_reward_cuts_the_episode_instead_of_hanging():
    m = EpisodeManager(ManagerConfig(horizon=0, max_gap=3), 'T')
    m.start()
    run_steps(m, [0, 0, 0])
    del m.rec.rewards[200]  # the label of obs 2 never arrived
    assert m.end_reason() is None  # obs 3 is only one past the hole
    run_steps(m, [0, 0, 0], start=3)
    assert m.end_reason() == ('incomplete', 1)
    assert len(m.finish('incomplete', 1)) == 1


def test_an_episode_waits_for_every_recorded_topic_to_be_connected():
    # (matched by our subscription, discovered in the graph)
    counts = {'/camera/image_raw': (1, 1), '/robot/state': (1, 1),
              '/robot/action': (1, 2),  # the reset node's publisher is known but not matched yet
              '/ptr/reward_info': (0, 0)}  # the reward node is still loading its classifier
    assert unconnected_inputs(counts) == ['/robot/action', '/ptr/reward_info']
    counts.update({'/robot/action': (2, 2), '/ptr/reward_info': (1, 1)})
    assert unconnected_inputs(counts) == []
    # A publisher we matched before discovery told the graph about it is not a reason to wait.
    assert unconnected_inputs({'/robot/state': (1, 0)}) == []
