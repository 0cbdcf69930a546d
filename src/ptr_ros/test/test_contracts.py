"""JSON message contracts: what a writer builds a reader gets back, and a broken message is
refused in one line naming the topic and field."""
import json

import pytest

from ptr_ros.contracts import (
    ContractError,
    NodeStatus,
    PolicyVersion,
    ResetReply,
    RewardInfo,
    SimStatus,
    TrainerStatus,
)


def test_round_trip_and_wire_format():
    info = RewardInfo(stamp_ns=7, prob=0.25, reward=0.0)
    assert json.loads(info.to_json()) == {'stamp_ns': 7, 'prob': 0.25, 'reward': 0.0}
    assert RewardInfo.from_json(info.to_json()) == info
    st = SimStatus('OpenDoor', 3, 12, 0.0, False, False, True, 99)
    assert SimStatus.from_msg(st.to_msg()) == st
    # An int where a float is declared is a float; unknown keys are ignored.
    assert RewardInfo.from_json('{"stamp_ns": 1, "prob": 1, "reward": 0, "new": 5}').prob == 1.0
    assert ResetReply.from_json('{"stamp_ns": 5}') == ResetReply(stamp_ns=5)


def test_open_fields_collect_the_undeclared_keys_and_flatten_back():
    raw = {'episodes': 4, 'env_steps': 80, 'updates': 160, 'version': 8, 'pending': 0,
           'rollbacks': 1, 'guard': {'best': 0.5}, 'runs': {'a1b2c3d4': 4}, 'sampled_online': 96,
           'critic_loss': 3.5,
           'q_data': 1.25}
    st = TrainerStatus.from_json(json.dumps(raw))
    assert st.metrics == {'critic_loss': 3.5, 'q_data': 1.25} and st.guard == {'best': 0.5}
    assert json.loads(st.to_json()) == raw
    status = NodeStatus('reset_node', 'ok', 'closed', {'attempts': 1, 'steps': 9})
    assert json.loads(status.to_json()) == {'node': 'reset_node', 'state': 'ok',
                                            'message': 'closed', 'attempts': 1, 'steps': 9}
    assert NodeStatus.from_json(status.to_json()) == status


@pytest.mark.parametrize('cls, text, match', [
    (RewardInfo, '{"stamp": 1, "prob": 0.5, "reward": 1}',
     r"^ptr/reward_info: field 'stamp_ns': missing \(got keys \['prob', 'reward', 'stamp'\]\)$"),
    (RewardInfo, '{"stamp_ns": "7", "prob": 0.5, "reward": 1}',
     r"^ptr/reward_info: field 'stamp_ns': expected int, got '7'$"),
    (SimStatus, '{"task": "T", "episode": 1, "step": 1, "reward": 0, "success": 1, '
                '"terminated": false, "truncated": false, "stamp_ns": 1}',
     r"^sim/status: field 'success': expected bool, got 1$"),
    (PolicyVersion, 'not json', r'^ptr/policy_version: expected a JSON object, got'),
    (TrainerStatus, '[1, 2]', r'^ptr/trainer_status: expected a JSON object, got list$'),
])
def test_a_broken_message_is_refused_in_one_line(cls, text, match):
    with pytest.raises(ContractError, match=match):
        cls.from_json(text)



def test_episode_announcement_keeps_the_design_keys():
    """DESIGN.md s5: ptr/episode is JSON with path, sha256, length, task, return."""
    from ptr_ros.contracts import EpisodeAnnouncement
    ann = EpisodeAnnouncement('/r/OpenDoor/shard-a000001', 'ab' * 32, 12, 'OpenDoor', 1.0,
                              name='OpenDoor/shard-a000001', run='a')
    d = json.loads(ann.to_json())
    assert {'path', 'sha256', 'length', 'task', 'return'} <= set(d) and 'ret' not in d
    assert d['return'] == 1.0 and EpisodeAnnouncement.from_json(ann.to_json()) == ann
    with pytest.raises(ContractError, match="ptr/episode: field 'return': missing"):
        EpisodeAnnouncement.from_json(json.dumps({k: v for k, v in d.items() if k != 'return'}))
