"""The action safety clamp (ptr_core.safety): what every robot bridge does to an action first."""
import numpy as np
import pytest

from ptr_core.constants import denormalize_action
from ptr_core.safety import clamp_action, hold_action


def test_hold_action_keeps_gripper_where_it_is():
    state = np.array([0.3, 0, 0.2, 0, 0, 0, 0.25], np.float32)
    a = hold_action(state)
    phys = denormalize_action(a)
    np.testing.assert_allclose(phys[:6], 0.0, atol=1e-7)  # no motion
    assert phys[6] == pytest.approx(0.25)  # gripper stays at 0.25
    assert hold_action(None)[6] == 0.0


def test_clamp_rejects_bad_actions_and_clips():
    state = np.array([0, 0, 0, 0, 0, 0, 1.0], np.float32)
    r = clamp_action([0.1] * 6 + [np.nan], state)
    assert r.reason == 'non-finite values'
    np.testing.assert_array_equal(r.action, [0, 0, 0, 0, 0, 0, 1.0])
    r = clamp_action([0.1] * 5, state)
    assert r.reason == 'expected 7 floats, got 5'
    r = clamp_action([2.0, -3.0, 0.5, 0, 0, 0, 0], state, limit=0.8)
    np.testing.assert_allclose(r.action, [0.8, -0.8, 0.5, 0, 0, 0, 0])
    assert 'clipped' in r.reason
    r = clamp_action([0.5] * 7, state)
    assert r.reason == '' and r.action.dtype == np.float32

