"""The safety filter's logic (ptr_core.safety.SafetyFilter): limits checked by hand, and property
tests on adversarial action streams (hypothesis, derandomized: the same examples on every
machine): the arm never leaves the box, nothing non-finite is emitted, only the reset clears the
e-stop."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ptr_core.constants import ACTION_HIGH, ACTION_LOW, denormalize_action, normalize_action
from ptr_core.safety import SafetyConfig, SafetyFilter, limit_action

CFG = SafetyConfig(max_step=0.04, max_rot_step=0.2, gripper_rate=0.5)  # tighter than default
LO, HI = np.array(CFG.workspace_low), np.array(CFG.workspace_high)


def _state(xyz, grip=0.5):
    return np.array([*xyz, 0.0, 1.0, 0.0, grip], np.float32)


def _fresh(now=10.0, xyz=(0.3, 0.0, 0.2), grip=0.5):
    f = SafetyFilter(CFG, period=0.2)
    f.on_state(_state(xyz, grip), now)
    f.on_image(now)
    return f


def test_limits_by_hand():
    # 1 cm from the +x wall, asking +5 cm: cut to the wall (1 cm), other axes untouched
    state = _state((HI[0] - 0.01, 0.0, 0.2))
    a = normalize_action(np.array([0.05, 0.02, 0.0, 0.0, 0.0, 0.0, 0.5], np.float32))
    r = limit_action(a, state, CFG)
    phys = denormalize_action(r.action)
    np.testing.assert_allclose(phys[:3], [0.01, 0.02, 0.0], atol=1e-6)
    assert r.reason == 'workspace'
    # in the middle, a full 5 cm step is cut to max_step, rotation to max_rot_step
    a = np.array([1.0, -1.0, 0.0, 1.0, 0.0, 0.0, 0.0], np.float32)
    phys = denormalize_action(limit_action(a, _state((0.3, 0.0, 0.2), 0.0), CFG).action)
    np.testing.assert_allclose(phys[:4], [0.04, -0.04, 0.0, 0.2], atol=1e-6)
    # the gripper from 0 (closed) asked to open fully moves by gripper_rate only
    a = np.array([0, 0, 0, 0, 0, 0, 1.0], np.float32)
    r = limit_action(a, _state((0.3, 0.0, 0.2), 0.0), CFG)
    assert denormalize_action(r.action)[6] == pytest.approx(0.5) and r.reason == 'gripper rate'
    # nothing to change: the very same action comes back
    ok = normalize_action(np.array([0.01, 0, 0, 0, 0, 0, 0.5], np.float32))
    r = limit_action(ok, _state((0.3, 0.0, 0.2)), CFG)
    assert r.reason == '' and np.array_equal(r.action, ok)


def test_stale_inputs_hold_and_a_quiet_source_gets_holds():
    f = _fresh(now=10.0)
    move = np.array([0.5, 0, 0, 0, 0, 0, 0.0], np.float32)
    assert f.filter(move, 10.5).reason == ''
    r = f.filter(move, 11.2)  # state and image 1.2 s old
    assert r.reason == 'state 1.2 s old' and np.all(denormalize_action(r.action)[:6] == 0)
    f.on_state(_state((0.3, 0.0, 0.2)), 11.2)
    assert f.filter(move, 11.3).reason == 'image 1.3 s old'
    assert f.filter(move, 11.3, check_fresh=False).reason == ''  # lock-step: time stands still
    assert f.tick(11.3 + 0.5) is None  # 2.5 periods after the last action
    assert f.tick(11.3 + 0.61).reason == 'no action'
    assert SafetyFilter(CFG, 0.2).filter(move, 0.0).reason == 'no state yet'


def test_holds_keep_the_gripper_as_commanded_not_as_measured():
    """A hold keeps the commanded gripper, not the measured one.

    Fingers closed on an object read as partly open (0.3 here): a hold that commanded the
    measured opening would loosen the grasp. Before any action, the measured one is all we have.
    (abs=0.01: actions are clipped to 0.99 of their range.)
    """
    f = _fresh(grip=0.3)
    assert denormalize_action(f.hold())[6] == pytest.approx(0.3)
    close = normalize_action(np.array([0, 0, 0, 0, 0, 0, 0.0], np.float32))
    assert f.filter(close, 10.1).reason == ''
    f.on_state(_state((0.3, 0.0, 0.2), grip=0.3), 10.2)  # the object keeps the fingers apart
    assert denormalize_action(f.tick(10.1 + 0.61).action)[6] == pytest.approx(0.0, abs=0.01)
    f.estop('operator')
    assert denormalize_action(f.filter(close, 10.8).action)[6] == pytest.approx(0.0, abs=0.01)
    r = f.filter(close, 12.0)  # stale inputs: a hold, the grasp kept
    assert r.reason.startswith('e-stop')
    assert denormalize_action(r.action)[6] == pytest.approx(0.0, abs=0.01)


def test_estop_latches_until_reset_only():
    f = _fresh()
    f.estop('operator')
    for t in (10.1, 10.2):
        r = f.filter(np.zeros(7, np.float32), t)
        assert r.reason == 'e-stop (operator)'
        assert f.tick(t).reason == 'e-stop (operator)'
    f.on_state(_state((0.3, 0.0, 0.2)), 10.3)  # new inputs do not clear it
    f.on_image(10.3)
    assert f.filter(np.zeros(7, np.float32), 10.3).reason.startswith('e-stop')
    assert f.reset_estop() is True and f.reset_estop() is False
    assert f.filter(np.zeros(7, np.float32), 10.3).reason == ''


def test_defaults_leave_any_in_box_action_as_it_is():
    """The default limits are the action space's: a policy acts in the sim as it learned to."""
    rng = np.random.default_rng(0)
    for _ in range(200):
        a = rng.uniform(-1, 1, 7).astype(np.float32)
        a[6] = rng.uniform(-1, 1)
        r = limit_action(a, _state((0.35, 0.0, 0.18), rng.uniform()), SafetyConfig())
        assert r.reason == '' and np.array_equal(r.action, a)


def test_bad_config_is_refused_in_one_line():
    with pytest.raises(ValueError, match='workspace: expected low < high'):
        SafetyConfig(workspace_low=(0.5, 0, 0), workspace_high=(0.4, 1, 1)).validate()
    with pytest.raises(ValueError, match='quiet_periods >= 1'):
        SafetyConfig(quiet_periods=0).validate()


finite = st.one_of(st.floats(-1.5, 1.5, allow_nan=False, width=32), st.sampled_from([-1.0, 1.0]))
anything = st.one_of(finite, st.just(float('nan')), st.just(float('inf')),
                     st.just(float('-inf')), st.floats(-1e30, 1e30))
valid = st.lists(finite, min_size=7, max_size=7)
# Mostly well-formed actions pushing anywhere (that is what tests the box), some garbage.
action_like = st.one_of(valid, valid, valid, st.lists(anything, min_size=0, max_size=12))


@settings(max_examples=300, deadline=None, derandomize=True)
@given(start=st.tuples(*[st.floats(float(lo), float(hi)) for lo, hi in zip(LO, HI)]),
       grip=st.floats(0.0, 1.0), actions=st.lists(action_like, min_size=1, max_size=40),
       tracking=st.floats(0.0, 1.0))
def test_adversarial_streams_never_leave_the_box_or_emit_non_finite(start, grip, actions,
                                                                   tracking):
    """Whatever a source sends, what the filter emits is finite and in [-1, 1], and an arm that
    executes it (fully or partly: `tracking`) stays in the workspace box with a sane gripper."""
    f = _fresh(now=0.0, xyz=start, grip=grip)
    state = _state(start, grip).astype(np.float64)
    for k, a in enumerate(actions):
        now = 0.1 * (k + 1)
        out = f.filter(a, now)
        assert out.action.shape == (7,) and np.all(np.isfinite(out.action))
        assert np.all(np.abs(out.action) <= 1.0 + 1e-6)
        phys = denormalize_action(out.action).astype(np.float64)
        state[:3] += tracking * phys[:3]
        state[6] += tracking * (phys[6] - state[6])
        assert np.all(state[:3] >= LO - 1e-6) and np.all(state[:3] <= HI + 1e-6)
        assert -1e-6 <= state[6] <= 1.0 + 1e-6
        f.on_state(state.astype(np.float32), now)
        f.on_image(now)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(events=st.lists(st.sampled_from(['action', 'state', 'image', 'tick', 'estop']),
                       min_size=1, max_size=30))
def test_only_reset_clears_the_estop(events):
    f = _fresh()
    f.estop('test')
    for k, e in enumerate(events):
        now = 10.0 + 0.1 * k
        if e == 'action':
            assert f.filter(np.full(7, 0.3, np.float32), now).reason.startswith('e-stop')
        elif e == 'state':
            f.on_state(_state((0.3, 0.0, 0.2)), now)
        elif e == 'image':
            f.on_image(now)
        elif e == 'tick':
            assert f.tick(now).reason.startswith('e-stop')
        else:
            f.estop('again')
        assert f.estopped
    f.reset_estop()
    assert not f.estopped


def test_physical_round_trip_is_exact_enough():
    """The filter's normalized output denormalizes to the target it computed (no ACTION_CLIP)."""
    from ptr_core.safety import physical_to_normalized
    phys = np.array([0.0499, -0.05, 0.01, 0.25, -0.2, 0.0, 1.0])
    np.testing.assert_allclose(denormalize_action(physical_to_normalized(phys)), phys, atol=1e-7)
    assert np.all(ACTION_LOW <= denormalize_action(physical_to_normalized(phys)) + 1e-7)
    assert np.all(denormalize_action(physical_to_normalized(phys)) <= ACTION_HIGH + 1e-7)


def test_a_malformed_action_holds_with_the_commanded_gripper_too():
    """The wrong-size and non-finite holds go through the same rule as the watchdog's."""
    f = _fresh(grip=0.3)
    close = normalize_action(np.array([0, 0, 0, 0, 0, 0, 0.0], np.float32))
    f.filter(close, 10.1)
    for bad in ([0.1] * 5, [np.nan] * 7):
        r = f.filter(bad, 10.2)
        assert not np.any(r.action[:6])
        assert denormalize_action(r.action)[6] == pytest.approx(0.0, abs=0.01), r.reason


def test_residual_corrections_are_checked_against_the_bound():
    f = SafetyFilter(SafetyConfig(residual_bound=0.2), period=0.2)
    assert f.on_correction(0.2, 0.2) and f.on_correction(0.0, 0.2) and not f.estopped
    assert not f.on_correction(0.2001, 0.2) and f.estopped
    assert f.estop_reason == 'residual correction 0.2001 beyond the bound 0.2'
    f.reset_estop()
    assert not f.on_correction(0.1, 0.3)  # the policy runs another bound than the graph's
    assert f.estop_reason == 'residual bound: expected 0.2, the policy runs 0.3'
    f.reset_estop()
    assert not f.on_correction(float('nan'), 0.2)
    assert f.max_correction == pytest.approx(0.2001)
    plain = SafetyFilter(SafetyConfig(), period=0.2)  # no residual policy expected
    assert not plain.on_correction(0.0, 0.2) and 'residual_bound is 0' in plain.estop_reason
    with pytest.raises(ValueError, match='residual_bound >= 0'):
        SafetyConfig(residual_bound=-0.1).validate()
