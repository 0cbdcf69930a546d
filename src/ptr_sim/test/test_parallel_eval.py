"""One evaluation over several workers gives the serial result: episode i has the same env seed
and the same policy noise whichever worker runs it."""
import hashlib

import numpy as np
import pytest

import ptr_sim
from ptr_sim.evaluate import CheckpointPolicy, evaluate
from ptr_sim.parallel_eval import evaluate_checkpoint, slices


def test_slices_cover_every_episode_once_in_order():
    for episodes, workers in ((1, 2), (7, 2), (50, 2), (50, 3), (5, 8)):
        spans = slices(episodes, workers)
        covered = [i for a, n in spans for i in range(a, a + n)]
        assert covered == list(range(episodes)) and all(n >= 1 for _, n in spans)
    assert len(slices(50, 2)) == 8  # about 4 per worker: long episodes balance out


class Recorder:
    """A seeded random policy that records a digest of every observation per episode."""

    def __init__(self):
        self.seen: dict[int, list[str]] = {}

    def reset(self, env, episode):
        self.episode, self.rng = episode, np.random.default_rng(episode)
        self.seen[episode] = []

    def __call__(self, obs):
        self.seen[self.episode].append(hashlib.sha1(obs['image'].tobytes()).hexdigest()[:12])
        return self.rng.uniform(-1, 1, 7).astype(np.float32)


def test_a_slice_of_an_evaluation_replays_the_serial_episodes_exactly():
    whole, parts = Recorder(), Recorder()
    env = ptr_sim.make_env('OpenDrawer', image_size=32)
    try:
        serial = evaluate(whole, 'OpenDrawer', 5, seed=40, env=env)
        for first, n in ((3, 2), (0, 3)):  # out of order, on the same env
            part = evaluate(parts, 'OpenDrawer', n, seed=40, env=env, first=first)
            assert part.lengths == serial.lengths[first:first + n]
    finally:
        env.close()
    assert parts.seen == whole.seen and len({s[0] for s in whole.seen.values()}) == 5


@pytest.mark.slow
def test_two_workers_give_the_serial_result_for_a_sampled_policy(tmp_path):
    from ptr_core.agent import Agent
    from ptr_core.config import load_config
    from ptr_core.policy import DeployablePolicy
    cfg = load_config(overrides=['network.image_size=32', 'network.impala_channels=4,4,4',
                                 'network.q_hidden=16,16', 'network.policy_hidden=16,16',
                                 'network.bottleneck_dim=16', 'agent.algo=bc'])
    ckpt = Agent(cfg).save(tmp_path / 'a.pt')
    policy = DeployablePolicy.load(ckpt, None)
    serial = evaluate(CheckpointPolicy(policy, greedy=False, seed=9), 'OpenDrawer', 4, seed=9,
                      image_size=32)
    spread = evaluate_checkpoint(str(ckpt), 'OpenDrawer', 4, seed=9, image_size=32, workers=2,
                                 greedy=False)
    assert (spread.outcomes, spread.lengths, spread.goals_met) == (
        serial.outcomes, serial.lengths, serial.goals_met)
    # starts='mixed': each episode starts as its seed says, whichever worker runs it
    serial = evaluate(CheckpointPolicy(policy, greedy=False, seed=3), 'OpenDoor', 6, seed=3,
                      image_size=32, starts='mixed')
    spread = evaluate_checkpoint(str(ckpt), 'OpenDoor', 6, seed=3, image_size=32, workers=2,
                                 greedy=False, starts='mixed')
    assert set(serial.start_kinds) == {'demo', 'ood'}
    assert (spread.outcomes, spread.lengths, spread.start_kinds) == (
        serial.outcomes, serial.lengths, serial.start_kinds)
    k, n = serial.by_start('ood')
    assert n == serial.start_kinds.count('ood') and k == sum(
        o for o, kind in zip(serial.outcomes, serial.start_kinds) if kind == 'ood')


@pytest.mark.slow
def test_a_reused_pool_gives_the_serial_result_for_each_checkpoint_in_turn(tmp_path):
    from ptr_core.agent import Agent
    from ptr_core.config import load_config
    from ptr_core.policy import DeployablePolicy
    from ptr_sim.parallel_eval import EvalPool
    ckpts = []
    for seed in (1, 2):
        cfg = load_config(overrides=['network.image_size=32', 'network.impala_channels=4,4,4',
                                     'network.q_hidden=16,16', 'network.policy_hidden=16,16',
                                     'network.bottleneck_dim=16', 'agent.algo=bc',
                                     f'train.seed={seed}'])
        ckpts.append(Agent(cfg).save(tmp_path / f'a{seed}.pt'))
    serial = [evaluate(CheckpointPolicy(DeployablePolicy.load(c, None), greedy=False, seed=5),
                       'OpenDrawer', 3, seed=5, image_size=32) for c in ckpts]
    with EvalPool(2) as pool:
        # a, b, a: a worker's cached policy must not carry noise state from one run to the next
        got = [pool.evaluate(str(ckpts[i]), 'OpenDrawer', 3, seed=5, image_size=32,
                             greedy=False) for i in (0, 1, 0)]
    for r, i in zip(got, (0, 1, 0)):
        assert (r.outcomes, r.lengths, r.goals_met) == (
            serial[i].outcomes, serial[i].lengths, serial[i].goals_met)


def test_worker_cache_keys_policies_by_checkpoint_and_keeps_the_recent_ones(tmp_path):
    from ptr_core.agent import Agent
    from ptr_core.config import load_config
    from ptr_sim import parallel_eval as pe
    cfg = load_config(overrides=['network.image_size=32', 'network.impala_channels=4,4,4',
                                 'network.q_hidden=16,16', 'network.policy_hidden=16,16',
                                 'network.bottleneck_dim=16', 'agent.algo=bc'])
    ckpts = [str(Agent(cfg).save(tmp_path / f'{i}.pt')) for i in range(pe._KEEP_POLICIES + 1)]
    pe._POLICIES.clear()
    first = pe._policy(ckpts[0], None, True, 0)
    assert pe._policy(ckpts[0], None, True, 0) is first  # loaded once
    assert pe._policy(ckpts[1], None, True, 0) is not first
    assert pe._policy(ckpts[0], None, False, 0) is not first  # greedy is part of the key
    for c in ckpts[2:]:
        pe._policy(c, None, True, 0)
    assert len(pe._POLICIES) == pe._KEEP_POLICIES
    assert (ckpts[1], None, True, 0) not in pe._POLICIES  # the least recently used went first
    pe._POLICIES.clear()
