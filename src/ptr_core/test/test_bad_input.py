"""The table of bad input (issue 10): each class, fed to the code that first reads it, is refused
with its own exception type and one line naming the file or topic, the field, what was expected
and what came. Then fuzzing (hypothesis, derandomized: the same examples on every machine): the
parsers of bytes and JSON that come over DDS raise only their own one-line error, nothing else."""
import json
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ptr_core import checkpoint, packets, rosmsg, weights
from ptr_core.config import ConfigError, load_config
from ptr_core.data import DatasetError, DatasetWriter, TaskDataset, Trajectory
from ptr_core.data.dataset import unpack_shard
from ptr_core.online_config import load_online_config
from ptr_core.safety import SafetyConfig
from ptr_core.task_registry import TaskRegistry

KEY = b'k'


def _shard(tmp_path, damage):
    t = 3
    traj = Trajectory.from_arrays(np.zeros((t + 1, 4, 4, 3), np.uint8), np.zeros((t + 1, 7)),
                                  np.zeros((t, 7)), task='T', success=True)
    with DatasetWriter(tmp_path / 'ds', shard_episodes=1) as w:
        w.add(traj)
    shard = w.shards[-1]
    damage(shard)
    return shard


def _image(**fields):
    base = dict(height=2, width=2, encoding='rgb8', step=6, data=bytes(12), is_bigendian=0)
    return SimpleNamespace(**(base | fields))


def _vector(values):
    return SimpleNamespace(data=np.asarray(values, np.float32), layout=SimpleNamespace(dim=[]))


def _bad_json_topics():
    """Every JSON message of the topic contract, as its reader sees a broken one."""
    from ptr_ros import contracts
    return [c for c in vars(contracts).values()
            if isinstance(c, type) and issubclass(c, contracts.Contract) and c.TOPIC]


CASES = [
    # (class of bad input, how to trigger it, exception, what the one line must contain)
    ('dataset: truncated array', lambda p: TaskDataset(_shard(p, lambda s: (s / 'actions.npy')
     .write_bytes((s / 'actions.npy').read_bytes()[:-8])).parent),
     DatasetError, 'actions.npy: unreadable array'),
    ('dataset: arrays disagree with the index', lambda p: TaskDataset(_shard(p, lambda s: np.save(
        s / 'rewards.npy', np.zeros(5, np.float32))).parent), DatasetError,
     'arrays disagree with index.json'),
    ('dataset: index not JSON', lambda p: TaskDataset(_shard(
        p, lambda s: (s / 'index.json').write_text('{')).parent), DatasetError,
     'index.json: unreadable index'),
    ('dataset: other format', lambda p: TaskDataset(_shard(p, lambda s: (s / 'index.json')
     .write_text(json.dumps({'format': 'x/9', 'episodes': []}))).parent), DatasetError,
     "format: expected 'ptr-dataset/1', got 'x/9'"),
    ('shard over DDS: not a packed shard', lambda p: unpack_shard(b'junk' * 100, p,
                                                                 'T/shard-a000000'),
     DatasetError, 'T/shard-a000000: not a packed shard'),
    ('image: wrong size for its encoding', lambda p: rosmsg.image_to_numpy(_image(step=3)),
     rosmsg.ConversionError, 'image step: expected >= 6 for 2 px of rgb8, got 3'),
    ('image: unknown encoding', lambda p: rosmsg.image_to_numpy(_image(encoding='yuv422')),
     rosmsg.ConversionError, 'yuv422'),
    ('action: wrong dimension', lambda p: rosmsg.vector_from_msg(_vector([0.1] * 5), 7,
                                                                'robot/action'),
     rosmsg.ConversionError, 'robot/action: expected 7 floats, got 5'),
    ('action: not finite', lambda p: rosmsg.vector_from_msg(_vector([np.nan] * 7), 7,
                                                           'robot/action'),
     rosmsg.ConversionError, 'robot/action: expected finite floats'),
    ('unknown task', lambda p: TaskRegistry.create(['A']).id('B'), KeyError,
     "task 'B': not in the registry"),
    ('missing checkpoint', lambda p: checkpoint.load(p / 'nope.pt'), checkpoint.CheckpointError,
     'nope.pt: checkpoint not found'),
    ('checkpoint of the wrong kind', lambda p: checkpoint.load(
        checkpoint.save(p / 'x.pt', {'format': checkpoint.POLICY_FORMAT}),
        checkpoint.AGENT_FORMAT), checkpoint.CheckpointError,
     "x.pt: format: expected ptr-agent/1, got 'ptr-policy/1'"),
    ('unknown config key', lambda p: load_config(overrides=['agent.cql_alfa=5']), ConfigError,
     "unknown key 'agent.cql_alfa'"),
    ('config value of the wrong type', lambda p: load_config(overrides=['train.steps=many']),
     ConfigError, "expected int, got 'many'"),
    ('unknown online setting', lambda p: load_online_config(None, {'utd_ratio': 2}), ConfigError,
     "unknown key 'utd_ratio'"),
    ('weights: wrong key', lambda p: weights.decode(weights.encode(b'w', 1, 'fp', b'a')[0], b'b'),
     weights.WeightsError, 'HMAC mismatch'),
    ('weights: other architecture', lambda p: weights.decode(
        weights.encode(b'w', 1, 'fp1', KEY)[0], KEY, expected_fingerprint='fp2'),
     weights.WeightsError, 'fingerprint mismatch, expected fp2, got fp1'),
    ('safety: workspace upside down', lambda p: SafetyConfig(workspace_low=(1, 1, 1)).validate(),
     ValueError, 'workspace: expected low < high'),
]


@pytest.mark.parametrize('name,trigger,error,text', CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_refused_in_one_line(tmp_path, name, trigger, error, text):
    with pytest.raises(error) as e:
        trigger(tmp_path)
    message = e.value.args[0] if isinstance(e.value, KeyError) else str(e.value)  # unquoted
    assert text in message and '\n' not in message, message


@pytest.mark.parametrize('contract', _bad_json_topics(), ids=lambda c: c.TOPIC)
def test_malformed_json_on_every_json_topic_names_the_topic(contract):
    from ptr_ros.contracts import ContractError
    for text in ('{', '[]', '{"stamp_ns": "soon"}', 'null'):
        with pytest.raises(ContractError) as e:
            contract.from_json(text)
        assert str(e.value).startswith(contract.TOPIC) and '\n' not in str(e.value)


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
                           lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner),
                           max_leaves=20)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(value=json_values, raw=st.text(max_size=200))
def test_fuzzed_json_messages_raise_only_contract_errors(value, raw):
    from ptr_ros.contracts import ContractError
    for contract in _bad_json_topics():
        for text in (json.dumps(value), raw):
            try:
                contract.from_json(text)
            except ContractError as e:
                assert '\n' not in str(e)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(data=st.binary(max_size=400), flip=st.integers(0, 10_000))
def test_fuzzed_packets_raise_only_packet_errors(data, flip):
    """Random bytes, and real packets with one byte changed: PacketError, or (untouched) the
    payload back. Nothing else, ever."""
    good = packets.encode(data, KEY, 'episode', 3, 'T/shard-a000000', chunk_size=64)
    for packet in [data, *good]:
        bad = bytearray(packet)
        if bad:
            bad[flip % len(bad)] ^= 0x5A
        with pytest.raises(packets.PacketError):
            packets.decode(bytes(bad), KEY)
    asm = packets.Assembler()
    whole = [asm.add(packets.decode(p, KEY)) for p in good][-1]
    assert whole is not None and whole.payload == data
