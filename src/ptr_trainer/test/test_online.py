"""OnlineTrainer: beta-mixed batches, the update-to-data ratio, versioned weights."""
import numpy as np
import pytest
import torch

from ptr_core.data import Trajectory
from ptr_core.data.online_buffer import OnlineBuffer
from ptr_core.data.rewards import RewardConfig
from ptr_core.data.sampler import MixedSampler, TransitionBuffer
from ptr_trainer.online import OnlineConfig, OnlineTrainer

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
