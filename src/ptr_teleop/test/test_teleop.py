"""Keys -> actions and the operator's episode commands (ptr_teleop.teleop), by hand."""
import numpy as np
import pytest

from ptr_teleop.teleop import (
    COMMAND_KEYS,
    GRIPPER_KEYS,
    MOTION_KEYS,
    Mixer,
    Session,
    TeleopConfig,
    key_map_text,
    status_line,
)


def test_presses_within_a_step_add_up_and_clip_then_start_again_from_zero():
    m = Mixer(TeleopConfig(step_size=0.4))
    for key in 'ww':
        m.press(key)
    m.press('d')
    a = m.take()
    np.testing.assert_allclose(a, [0.8, -0.4, 0, 0, 0, 0, 1.0], atol=1e-7)  # gripper open
    for _ in range(5):  # held key: 5 repeats of 0.4 clip at the largest delta
        m.press('r')
    np.testing.assert_allclose(m.take()[:6], [0, 0, 1.0, 0, 0, 0])
    np.testing.assert_allclose(m.take()[:6], 0.0)  # released: the arm holds


def test_gripper_is_absolute_and_stays_where_it_was_put():
    m = Mixer()
    m.press('c')
    assert m.take()[6] == 0.0 and m.take()[6] == 0.0
    m.press('v')
    assert m.take()[6] == 1.0
    assert not m.press('z')  # not a motion or gripper key


def test_every_axis_has_a_key_each_way_and_no_key_has_two_meanings():
    axes = {(a, s) for a, s in MOTION_KEYS.values()}
    assert axes == {(a, s) for a in range(6) for s in (1.0, -1.0)}
    groups = [set(MOTION_KEYS), set(GRIPPER_KEYS), set(COMMAND_KEYS)]
    assert sum(len(g) for g in groups) == len(set().union(*groups))
    text = key_map_text()
    for key in ['w/s', 'a/d', 'r/f', 'u/o', 'i/k', 'j/l', 'c/v', 'n ', '1 ', '0 ', 'x ']:
        assert key in text


def test_spacemouse_deadzone_and_buttons():
    m = Mixer(TeleopConfig(spacemouse_scale=0.5, spacemouse_deadzone=0.1))
    m.deflect(np.array([0.05, -0.6, 1.0, 0, 0, -0.09]), (True, False))
    np.testing.assert_allclose(m.take(), [0, -0.3, 0.5, 0, 0, 0, 0.0])
    m.deflect(np.zeros(6), (False, True))
    assert m.take()[6] == 1.0


def test_session_commands_and_refusals():
    s = Session('OpenDoor', first=3)
    assert s.command('success') is None and 'no episode' in s.why
    assert s.command('start') == 'start' and s.recording
    assert s.command('start') is None and 'already recording' in s.why
    s.step()
    s.step()
    assert s.command('failure') == 'failure'
    ep = s.ended()
    assert (ep.number, ep.task, ep.steps) == (3, 'OpenDoor', 2) and not s.recording
    assert s.command('start') == 'start' and s.episode.number == 4
    assert s.command('discard') == 'discard' and s.ended().number == 4
    assert s.kept == {'success': 0, 'failure': 1, 'discard': 1}
    assert s.command('start') == 'start' and s.episode.number == 5
    s.cancel()  # the robot did not answer the reset: episode 5 never began
    assert not s.recording and s.command('start') == 'start' and s.episode.number == 5
    assert s.command('quit') == 'quit'
    with pytest.raises(ValueError, match="unknown teleop command 'jump'"):
        s.command('jump')


def test_status_line_names_episode_step_and_action():
    s = Session('OpenDoor')
    s.command('start')
    s.step()
    line = status_line(s, np.array([1, 0, -0.5, 0, 0, 0, 0], np.float32))
    assert line.startswith('episode 0 (OpenDoor) step 1')
    assert '+1.00 +0.00 -0.50' in line and 'gripper closed' in line
