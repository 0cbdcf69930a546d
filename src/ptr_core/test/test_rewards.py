"""Reward labeling against hand computations."""
import numpy as np
import pytest

from ptr_core.data import Trajectory
from ptr_core.data.rewards import RewardConfig, label_trajectory, mc_returns


def _traj(t, success=True, rewards=None, terminals=None):
    return Trajectory.from_arrays(np.zeros((t + 1, 4, 4, 3)), np.zeros((t + 1, 7)),
                                  np.zeros((t, 7)), rewards, terminals, task='X', success=success)


def test_ptr_last_three_scaled_and_terminal():
    lab = label_trajectory(_traj(6), RewardConfig())
    assert lab.reward.tolist() == [-1, -1, -1, 10, 10, 10]
    assert lab.terminal.tolist() == [False] * 3 + [True] * 3
    # each +1 transition is terminal, so its return is its own reward; before them:
    # G_2 = -1 + 0.96 * 10
    np.testing.assert_allclose(lab.mc_return, [-1 + .96 * (-1 + .96 * 8.6), -1 + .96 * 8.6,
                                               8.6, 10, 10, 10], rtol=1e-6)


def test_ptr_shorter_than_n_and_failure():
    lab = label_trajectory(_traj(2), RewardConfig())
    assert lab.reward.tolist() == [10, 10]
    fail = label_trajectory(_traj(4, success=False), RewardConfig(discount=0.5))
    assert fail.reward.tolist() == [-1] * 4 and not fail.terminal.any()
    # Cal-QL: an all-failure episode's return is r / (1 - gamma) at every step.
    np.testing.assert_allclose(fail.mc_return, [-2.0] * 4)


def test_cog_modes():
    rec = np.array([0, 0, 1, 0], np.float32)
    term = np.array([0, 0, 1, 0], bool)
    prior = label_trajectory(_traj(4, rewards=rec, terminals=term), RewardConfig.cog_prior())
    assert prior.reward.tolist() == [0] * 4 and not prior.terminal.any()
    task = label_trajectory(_traj(4, rewards=rec, terminals=term), RewardConfig.recorded())
    assert task.reward.tolist() == [0, 0, 1, 0]
    assert task.terminal.tolist() == [False, False, True, False]


def test_mc_returns_hand_computed():
    # no terminal, zero bootstrap: G = [1 + .5*(0 + .5*2), 0 + .5*2, 2]
    np.testing.assert_allclose(mc_returns([1, 0, 2], [0, 0, 0], 0.5, 'zero'), [1.5, 1.0, 2.0])
    # repeat_last: tail value 2 / (1 - .5) = 4 -> G_2 = 2 + .5*4 = 4
    np.testing.assert_allclose(mc_returns([1, 0, 2], [0, 0, 0], 0.5), [2.0, 2.0, 4.0])
    # a terminal in the middle cuts the sum
    np.testing.assert_allclose(mc_returns([1, 3, 2], [0, 1, 0], 0.5, 'zero'), [2.5, 3.0, 2.0])


def test_bad_config():
    with pytest.raises(ValueError, match='reward mode'):
        RewardConfig(mode='dense')
