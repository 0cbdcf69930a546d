"""Observation pairing, act-once gating and hot weight swaps, without ROS."""
import io
import threading

import numpy as np
import pytest
import torch

from ptr_core import weights
from ptr_policy.swap import WeightSwapper
from ptr_policy.sync import ActGate
from ptr_ros.pairing import ObservationSync

KEY = b'k'


class StandInPolicy:
    """The DeployablePolicy API (act, fingerprint, load_state_bytes) over a linear layer."""

    def __init__(self, fingerprint='fp1', gate=None):
        torch.manual_seed(0)
        self.net = torch.nn.Linear(7, 7)
        self.fingerprint = fingerprint
        self.gate = gate  # an optional (started, release) pair of events to hold a load open

    def act(self, image, state, greedy=True):
        with torch.no_grad():
            return self.net(torch.as_tensor(state)).numpy()

    def state_bytes(self):
        buf = io.BytesIO()
        torch.save(self.net.state_dict(), buf)
        return buf.getvalue()

    def load_state_bytes(self, b):
        if self.gate is not None:
            started, release = self.gate
            started.set()
            assert release.wait(30), 'the control loop never released the load'
        self.net.load_state_dict(torch.load(io.BytesIO(b)))


def _img(v):
    return np.full((2, 2, 3), v, np.uint8)


def test_tagged_pairs_match_by_stamp_in_any_order():
    sync = ObservationSync()
    s1, s2 = np.ones(7, np.float32), 2 * np.ones(7, np.float32)
    assert sync.add_state(200, s2) is None  # state first
    assert sync.add_image(100, _img(1)) is None  # image of another stamp
    obs = sync.add_image(200, _img(2))
    assert obs.stamp_ns == 200 and obs.state[0] == 2 and obs.image[0, 0, 0] == 2
    # the late state of stamp 100 completes an older pair: never returned
    assert sync.add_state(100, s1) is None
    assert sync.latest().stamp_ns == 200


def test_untagged_states_pair_with_newest_image():
    sync = ObservationSync()
    assert sync.add_state(None, np.zeros(7, np.float32)) is None
    obs = sync.add_image(5, _img(5))
    assert obs.stamp_ns == 5
    obs = sync.add_state(None, np.ones(7, np.float32))
    assert obs.stamp_ns == 5 and obs.state[0] == 1


def test_memory_is_bounded():
    sync = ObservationSync(keep=3)
    for t in range(10):
        sync.add_image(t, _img(t))
    assert sync.add_state(2, np.zeros(7, np.float32)) is None  # image 2 was dropped
    assert sync.add_state(9, np.zeros(7, np.float32)).stamp_ns == 9


def test_act_gate_once_per_stamp():
    gate = ActGate()
    assert gate.is_new(1) and gate.cached(1) is None
    gate.record(1, np.ones(7))
    assert not gate.is_new(1) and gate.cached(1)[0] == 1
    assert gate.is_new(2) and gate.cached(2) is None


def _packet(policy_bytes, version, fp='fp1', key=KEY, chunk=0):
    return weights.encode(policy_bytes, version, fp, key, chunk_size=chunk)


def test_swap_installs_newer_versions_only_and_refuses_bad_packets():
    running = StandInPolicy()
    swapper = WeightSwapper(running, KEY)
    state = np.arange(7, dtype=np.float32)
    before = running.act(None, state)
    trained = StandInPolicy()
    with torch.no_grad():
        trained.net.weight.mul_(-1.0)
    expected = trained.act(None, state)
    [pkt] = _packet(trained.state_bytes(), 3)
    new = swapper.offer(pkt)
    assert new.version == 3 and swapper.current.version == 3
    np.testing.assert_allclose(swapper.current.policy.act(None, state), expected)
    np.testing.assert_allclose(running.act(None, state), before)  # the old object was not touched
    assert swapper.offer(pkt) is None  # same version again
    [old] = _packet(trained.state_bytes(), 2)
    with pytest.raises(weights.WeightsError, match='weights v2: older than the running v3'):
        swapper.offer(old)  # a replay
    small = WeightSwapper(StandInPolicy(), KEY, max_bytes=len(pkt) - 1)
    with pytest.raises(weights.WeightsError, match=rf'{len(pkt)} bytes, over the limit'):
        small.offer(pkt)
    big_claim = _packet(trained.state_bytes(), 4, chunk=64)[0]  # one small chunk of a large one
    limit = len(big_claim) + 1
    assert len(trained.state_bytes()) > limit
    with pytest.raises(weights.WeightsError, match=f'declares .* over the limit of {limit}'):
        WeightSwapper(StandInPolicy(), KEY, max_bytes=limit).offer(big_claim)
    with pytest.raises(weights.WeightsError, match='HMAC'):
        swapper.offer(_packet(trained.state_bytes(), 4, key=b'other')[0])
    with pytest.raises(weights.WeightsError, match='expected fp1, got fp2'):
        swapper.offer(_packet(trained.state_bytes(), 5, fp='fp2')[0])
    assert swapper.current.version == 3


def test_chunked_weights_swap_after_last_chunk():
    swapper = WeightSwapper(StandInPolicy(), KEY)
    chunks = _packet(StandInPolicy().state_bytes(), 1, chunk=200)
    assert len(chunks) > 2
    results = [swapper.offer(c) for c in chunks]
    assert all(r is None for r in results[:-1]) and results[-1].version == 1


def test_control_loop_keeps_ticking_while_weights_load():
    started, release = threading.Event(), threading.Event()
    held = StandInPolicy(gate=(started, release))

    def clone(policy):
        twin = StandInPolicy(gate=policy.gate)
        twin.net.load_state_dict(policy.net.state_dict())
        return twin

    swapper = WeightSwapper(held, KEY, clone=clone)
    [pkt] = _packet(StandInPolicy().state_bytes(), 1)
    loader = threading.Thread(target=swapper.offer, args=(pkt,))
    loader.start()
    assert started.wait(30)
    # the load is in progress (blocked inside load_state_bytes): the control path still acts
    versions = []
    for _ in range(20):
        run = swapper.current
        run.policy.act(None, np.zeros(7, np.float32))
        versions.append(run.version)
    release.set()
    loader.join(30)
    assert versions == [0] * 20
    assert swapper.current.version == 1


def test_rate_gate_subsamples_a_fast_camera_but_keeps_every_control_tick():
    from ptr_policy.sync import RateGate
    gate = RateGate(5.0)
    camera_30hz = [gate.ready(i / 30) for i in range(30)]  # one second of frames
    assert sum(camera_30hz) == 5  # acts on frames 0, 6, 12, 18, 24 (period 0.2 s >= 0.18 s)
    gate = RateGate(5.0)
    jittery_5hz = [0.0, 0.195, 0.41, 0.59, 0.80]  # a 5 Hz robot with +-10 ms jitter
    assert all(gate.ready(t) for t in jittery_5hz)
