"""Readiness (ptr_ros.readiness): an evaluation counts no episode before every part it needs said
it is ready, and restarts the episode in progress when that happens (pure logic, the order of
events as the sim bridge sees them when the policy node comes up late)."""
import pytest

from ptr_ros.readiness import EvaluationTally, Readiness, parse_parts


def test_a_late_policy_node_counts_no_episode_before_it_is_ready():
    tally = EvaluationTally(Readiness(parse_parts('policy,classifier')))
    # the policy node is still loading: the robot holds, episodes run out at the horizon
    assert tally.on_episode_end(False, 30) is None
    assert not tally.readiness.report('classifier', 'reward.pt')  # one of two
    assert tally.on_episode_end(False, 30) is None
    assert not tally.readiness.report('trainer', 'x')  # not a required part: ignored
    # the policy announces itself 12 steps into an episode: that one restarts, counting begins
    assert tally.readiness.report('policy', 'fingerprint ab12 v0')
    assert tally.on_ready(steps_taken=12) is True
    assert tally.readiness.summary() == 'policy: fingerprint ab12 v0; classifier: reward.pt'
    assert tally.on_episode_end(True, 17) == 'episode 1: success after 17 steps; success 1/1'
    assert tally.on_episode_end(False, 30) == 'episode 2: failure after 30 steps; success 1/2'
    assert tally.on_ready(steps_taken=5) is False  # a re-announcement changes nothing


def test_ready_before_the_first_step_keeps_the_episode_and_no_requirement_counts_at_once():
    tally = EvaluationTally(Readiness(['policy']))
    assert tally.readiness.report('policy', 'fingerprint ab12 v0')
    assert tally.on_ready(steps_taken=0) is False  # lock-step: nothing happened yet
    assert tally.on_episode_end(False, 30) == 'episode 1: failure after 30 steps; success 0/1'
    free = EvaluationTally(Readiness([]))
    assert free.counting and free.on_episode_end(True, 3).startswith('episode 1: success')


def test_parts_are_checked_in_one_line():
    assert parse_parts(' policy, classifier ,reset') == ('policy', 'classifier', 'reset')
    assert parse_parts('') == ()
    with pytest.raises(ValueError, match=r"^parameter require_ready: expected parts among "
                                         r"\['classifier', 'policy', 'reset'\], got \['polcy'\]$"):
        parse_parts('polcy')
