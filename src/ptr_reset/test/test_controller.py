"""ResetController: success, timeout -> retry -> escalate, with a fake scene."""
import pytest

from ptr_reset.controller import ResetConfig, ResetController


class FakeScene:
    """A door at `angle`; each reset action closes it by `speed`; reset when angle <= 0."""

    def __init__(self, angle, speed, drop_after=None):
        self.angle, self.speed, self.actions, self.homes = angle, speed, 0, 0
        self.observed, self.drop_after = 0, drop_after

    def observe(self, timeout):
        self.observed += 1
        if self.drop_after is not None and self.observed > self.drop_after:
            return None
        return {'angle': self.angle}

    def act(self, obs):
        self.actions += 1
        self.angle -= self.speed

    def home(self):
        self.homes += 1


def controller(scene, **cfg):
    return ResetController(ResetConfig(**cfg), scene.observe, scene.act,
                           lambda o: o['angle'] <= 0, scene.home)


def test_already_reset_sends_no_action():
    scene = FakeScene(0, 1)
    res = controller(scene).run()
    assert res.success and not res.escalated and res.steps == 0 and scene.actions == 0


def test_resets_within_budget():
    scene = FakeScene(10, 3)  # 3 actions: 10 -> 7 -> 4 -> 1 -> -2 needs 4
    res = controller(scene, max_steps=5).run()
    assert res.success and res.attempts == 1 and res.steps == 4 == scene.actions
    assert scene.homes == 0


def test_timeout_then_retry_succeeds():
    scene = FakeScene(10, 2)  # needs 5 actions; 3 per attempt -> second attempt finishes
    res = controller(scene, max_steps=3, attempts=2).run()
    assert res.success and res.attempts == 2 and res.steps == 5 and scene.homes == 1
    assert res.message == ('attempt 1: not reset after 3 steps (timeout); '
                           'attempt 2: reset reached after 2 steps')


def test_escalates_after_all_attempts_fail():
    scene = FakeScene(100, 1)
    res = controller(scene, max_steps=4, attempts=3).run()
    assert not res.success and res.escalated
    assert res.attempts == 3 and res.steps == 12 == scene.actions and scene.homes == 2
    assert 'escalating' in res.message and 'attempt 3' in res.message


def test_missing_observations_fail_the_attempt():
    scene = FakeScene(10, 1, drop_after=2)
    res = controller(scene, max_steps=20, attempts=2).run()
    assert res.escalated and 'no observation' in res.message and scene.actions == 2


def test_bad_config():
    with pytest.raises(ValueError, match='attempts'):
        ResetConfig(attempts=0).validate()
