"""OnlineTrainer: beta-mixed batches, the update-to-data ratio, versioned weights."""
import numpy as np
import pytest
import torch

from ptr_core.data import Trajectory
from ptr_core.data.online_buffer import OnlineBuffer
from ptr_core.data.rewards import RewardConfig
from ptr_core.data.sampler import MixedSampler, TransitionBuffer
from ptr_core.online_config import OnlineConfig
from ptr_trainer.online import OnlineTrainer

torch.set_num_threads(1)
TASKS = {'Prior': 0, 'OpenDoor': 1}


def traj(task, marker, length=4, success=False):
    """States all equal `marker`, so a batch row tells which source it came from."""
    rewards = np.zeros(length, np.float32)
    if success:
        rewards[-1] = 1.0
    return Trajectory.from_arrays(np.zeros((length + 1, 8, 8, 3), np.uint8),
                                  np.full((length + 1, 7), marker), np.zeros((length, 7)),
                                  rewards, rewards > 0, task=task, success=success)


class RecordingAgent:
    def __init__(self):
        self.batches = []

    def update(self, batch):
        self.batches.append(batch)
        return {'loss': float(len(self.batches))}

    def policy_state_bytes(self, version=0):
        return f'weights v{version} after {len(self.batches)}'.encode()


def make(tmp_path, **cfg):
    cfg = {'warmup_episodes': 0, 'ramp_transitions': 0, 'guard': False} | cfg
    prior = TransitionBuffer.from_trajectories([traj('Prior', 1.0) for _ in range(3)], TASKS)
    demos = TransitionBuffer.from_trajectories([traj('OpenDoor', 2.0, success=True)], TASKS)
    online = OnlineBuffer(tmp_path / 'online', TASKS,
                          RewardConfig.recorded(11.0, -1.0, discount=0.96))
    cfg = OnlineConfig(**cfg)
    sampler = MixedSampler([prior, demos, online], list(cfg.beta), cfg.batch_size, None, 0)
    published = []
    agent = RecordingAgent()
    trainer = OnlineTrainer(agent, sampler, online, cfg,
                            on_weights=lambda v, b: published.append((v, b)))
    return trainer, agent, published, online


def test_beta_mixing_per_batch(tmp_path):
    trainer, agent, _, _ = make(tmp_path, utd=1.0, publish_every=1000)
    trainer.add_episode(traj('OpenDoor', 3.0, length=6, success=True))
    assert trainer.train() == 6
    for batch in agent.batches:
        marker = batch['state'][:, 0].numpy()
        # PTR App. F: 0.35 / 0.15 / 0.5 of 64 -> 22 + 10 + 32.
        assert [(marker == m).sum() for m in (1.0, 2.0, 3.0)] == [22, 10, 32]
        online_rows = marker == 3.0
        # Classifier rewards {0, 1} on PTR's offline scale: 0 -> -1, 1 -> +10.
        assert set(batch['reward'][online_rows].tolist()) <= {-1.0, 10.0}


def test_utd_ratio_and_versions(tmp_path):
    trainer, agent, published, online = make(tmp_path, utd=10.0, publish_every=30)
    assert trainer.add_episode(traj('OpenDoor', 3.0, length=7)) == 70
    assert trainer.train(max_updates=25) == 25 and trainer.pending == 45
    assert trainer.train() == 45
    assert len(agent.batches) == 70 == trainer.updates and trainer.pending == 0
    assert [v for v, _ in published] == [1, 2]
    assert published[1][1] == b'weights v2 after 60'
    assert online.num_episodes == 1 and trainer.env_steps == 7


def test_fractional_utd_carries_credit(tmp_path):
    trainer, agent, _, _ = make(tmp_path, utd=2.5, publish_every=1000)
    assert trainer.add_episode(traj('OpenDoor', 3.0, length=3)) == 7  # 7.5 owed
    trainer.train()
    assert trainer.add_episode(traj('OpenDoor', 3.0, length=1)) == 3  # 0.5 + 2.5
    assert trainer.train() == 3 and trainer.updates == 10


def test_episodes_persist_on_disk(tmp_path):
    trainer, *_ = make(tmp_path)
    trainer.add_episode(traj('OpenDoor', 3.0, length=5, success=True))
    again = OnlineBuffer(tmp_path / 'online', TASKS)
    assert again.num_episodes == 1 and len(again) == 5


def test_config_validation():
    with pytest.raises(ValueError, match='beta'):
        OnlineConfig(beta=(0.5, 0.5, 0.5)).validate()
    assert OnlineConfig().cql_alpha == 0.5 and OnlineConfig().utd == 10


def test_warmup_earns_no_updates_and_the_online_share_ramps(tmp_path):
    trainer, agent, _, _ = make(tmp_path, utd=1.0, publish_every=1000, warmup_episodes=1,
                                ramp_transitions=20)
    # No online data yet: 0.7 / 0.3 of 64, cumulative floors 44.8 -> 44, 64 -> 20.
    assert trainer.sampler.counts == [44, 20, 0]
    assert trainer.add_episode(traj('OpenDoor', 3.0, length=5)) == 0  # warm-up: frozen policy
    # 5 of 20 ramp transitions: online share 0.5 * 5/20 = 0.125 -> 8 of 64; the rest 0.7 / 0.3.
    assert trainer.sampler.counts == [39, 17, 8]
    assert trainer.add_episode(traj('OpenDoor', 3.0, length=15)) == 15
    assert trainer.sampler.counts == [22, 10, 32]  # ramp done: PTR's 0.35 / 0.15 / 0.5
    trainer.train()
    marker = agent.batches[-1]['state'][:, 0].numpy()
    assert (marker == 3.0).sum() == 32


def test_fractions_by_hand():
    cfg = OnlineConfig(beta=(0.35, 0.15, 0.5), ramp_transitions=100)
    assert cfg.fractions(0) == [0.7, 0.3, 0.0]
    assert cfg.fractions(50) == pytest.approx([0.525, 0.225, 0.25])
    assert cfg.fractions(500) == pytest.approx([0.35, 0.15, 0.5])


class SnapshotAgent(RecordingAgent):
    """A learner whose whole state is one number, so a rollback is visible."""

    def __init__(self):
        super().__init__()
        self.w = 0.0
        self.loaded = []

    def update(self, batch):
        self.w += 1.0
        return super().update(batch)

    def state(self):
        return {'w': self.w}

    def load_state(self, payload, where='', restore_rng=True):
        self.w = payload['w']
        self.loaded.append(payload['w'])

    def policy_state_bytes(self, version=0):
        return f'w={self.w:g}'.encode()


def test_guard_rolls_back_to_the_best_version_when_success_collapses(tmp_path):
    prior = TransitionBuffer.from_trajectories([traj('Prior', 1.0)], TASKS)
    demos = TransitionBuffer.from_trajectories([traj('OpenDoor', 2.0, success=True)], TASKS)
    online = OnlineBuffer(tmp_path / 'online', TASKS)
    cfg = OnlineConfig(utd=1.0, publish_every=2, batch_size=8, warmup_episodes=0,
                       ramp_transitions=0, guard=True, guard_window=4, guard_drop=0.3)
    published, events = [], []
    agent = SnapshotAgent()
    trainer = OnlineTrainer(agent, MixedSampler([prior, demos, online], list(cfg.beta), 8),
                            online, cfg, lambda v, b: published.append((v, b)),
                            on_event=events.append)

    def episode(ok, train=True):
        t = traj('OpenDoor', 3.0, length=2, success=ok)
        t.meta['weights_version'] = trainer.version  # the version deployed while it ran
        trainer.add_episode(t)
        if train:
            trainer.train()

    for ok in (True, True, True, True):  # window 4/4 under v0..v3: best is v3 (w = 6)
        episode(ok)
    assert trainer.guard.best_version == 3 and trainer.guard.best_rate == 1.0
    assert published[2] == (3, b'w=6')
    episode(False)  # window 3/4 = 0.75: within 0.3 of the best, kept
    episode(False)  # 2/4: 0.5 below the best, but 4/4 vs 2/4 is noise (Fisher p = 6/28)
    episode(False)  # 1/4: p = 1/C(8,5) + ... = (C(4,4) C(4,1)) / C(8,5) = 4/56
    assert trainer.rollbacks == 0
    episode(False, train=False)  # 0/4: p = 1/C(8,4) = 1/70 < 0.05: roll back
    assert trainer.rollbacks == 1 and agent.loaded == [6.0]
    assert events and 'rollback to v3' in events[0] and 'window success 0.00' in events[0]
    assert 'Fisher p=0.014' in events[0]
    v, payload = published[-1]
    assert payload == b'w=6' and v == trainer.version  # the best weights, as a new version
    assert len(trainer.guard.recent) == 0  # the restored policy is judged afresh


def test_guard_keeps_a_steady_policy(tmp_path):
    trainer, agent, published, _ = make(tmp_path, utd=1.0, publish_every=2, guard=True,
                                        guard_window=4)
    rng = np.random.default_rng(0)
    for i in range(12):  # alternating outcomes around 50 %: never 0.3 below the best window
        trainer.add_episode(traj('OpenDoor', 3.0, length=2, success=bool(i % 2)))
        trainer.train()
    assert trainer.rollbacks == 0
    del rng


def test_guard_ignores_a_drop_that_a_steady_policy_shows_by_chance():
    from ptr_trainer.guard import GuardConfig, RegressionGuard
    guard = RegressionGuard(GuardConfig(window=6, drop=0.3))
    # a steady ~20 % policy: its best window reads 2/6, a later one 0/6 (p = 15/66 = 0.23)
    outcomes = [True, False, True, False, False, False] + [False] * 6
    assert all(guard.record(1, ok) is None for ok in outcomes)
    assert guard.best_rate == pytest.approx(2 / 6) and guard.rate == 0.0
    guard = RegressionGuard(GuardConfig(window=6, drop=0.3))  # 4/6 -> 0/6: p = 15/495 = 0.03
    outcomes = [True, True, True, True, False, False] + [False] * 4  # 4/6 ... 1/6, 0/6
    results = [guard.record(1, ok) for ok in outcomes]
    assert [r is not None for r in results].index(True) == len(outcomes) - 1
    assert 'Fisher p=0.03)' in results[-1].reason


def test_online_temperature_restart_is_an_agent_change():
    assert 'init_temperature' not in OnlineConfig().agent_changes()
    assert OnlineConfig(init_temperature=0.05).agent_changes()['init_temperature'] == 0.05


def test_the_published_summary_satisfies_the_trainer_status_contract(tmp_path):
    import json

    from ptr_ros.contracts import TrainerStatus
    trainer, _, _, _ = make(tmp_path, utd=1.0, publish_every=2, guard=True)
    trainer.add_episode(traj('OpenDoor', 3.0, length=4, success=True))
    trainer.train()
    st = TrainerStatus.from_json(json.dumps(trainer.summary()))
    assert (st.episodes, st.env_steps, st.updates, st.version, st.pending) == (1, 4, 4, 2, 0)
    assert st.metrics == {'loss': 4.0} and st.guard == trainer.guard.state()
    assert st.sampled_online == trainer.sampler.drawn[2] > 0 and st.runs == {'': 1}


def test_a_stopping_trainer_checkpoints_only_what_changed(tmp_path):
    trainer, _, _, _ = make(tmp_path, utd=1.0, publish_every=100)
    saved = []
    trainer.save = lambda updates, progress: saved.append((updates, progress['episodes']))
    assert not trainer.checkpoint_now()  # nothing learned yet: nothing to save
    trainer.add_episode(traj('OpenDoor', 3.0, length=3))
    trainer.train()
    assert trainer.checkpoint_now() and saved == [(3, 1)]
    assert not trainer.checkpoint_now() and saved == [(3, 1)]  # unchanged since
