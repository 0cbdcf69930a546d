"""Online fine-tuning: episodes in, CQL updates with beta mixing at a fixed update-to-data ratio,
a new policy-weights version every K updates (PTR section V-F and appendix F).

PTR alternates between collecting one trajectory and taking gradient steps: 10 gradient updates
per environment step, each batch mixing the Bridge (prior) data, the offline target demos and the
online data 0.35 / 0.15 / 0.5, CQL alpha 0.5 online (5 offline), and the CQL regularizer
bounded below by the Monte-Carlo return (Cal-QL) so the conservative initialization does not
unlearn at the start of fine-tuning. Pure: no rclpy; the node calls `add_episode` and `train`.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Protocol

from ptr_core.data import Trajectory

WeightsCallback = Callable[[int, bytes], None]


@dataclass
class OnlineConfig:
    """PTR appendix F defaults."""

    beta: tuple[float, float, float] = (0.35, 0.15, 0.5)  # prior / target demos / online data
    utd: float = 10.0  # gradient updates per new environment transition
    publish_every: int = 100  # K: a new weights version every K updates
    batch_size: int = 64  # transitions per update
    cql_alpha: float = 0.5  # CQL alpha online (PTR App. F: 5 offline, 0.5 online)
    calql: bool = True  # bound the CQL regularizer by the MC return (PTR App. F, Cal-QL)
    online_reward_scale: float = 11.0  # classifier reward r in {0,1} -> r*scale+shift,
    online_reward_shift: float = -1.0  # the same {-1, +10} scale as PTR's offline labels
    save_every: int = 0  # agent checkpoint every n updates (0: at every published version)
    seed: int = 0  # sampling seed

    def validate(self) -> 'OnlineConfig':
        if len(self.beta) != 3 or any(b < 0 for b in self.beta) or abs(sum(self.beta) - 1) > 1e-6:
            raise ValueError(f'online config: beta: expected 3 non-negative fractions summing '
                             f'to 1, got {list(self.beta)}')
        if self.utd <= 0 or self.publish_every < 1 or self.batch_size < 1:
            raise ValueError(f'online config: expected utd > 0, publish_every >= 1, '
                             f'batch_size >= 1, got {self.utd}, {self.publish_every}, '
                             f'{self.batch_size}')
        return self


class Learner(Protocol):
    """What OnlineTrainer needs of ptr_core.agent.Agent."""

    def update(self, batch: dict) -> dict[str, float]: ...

    def policy_state_bytes(self, version: int = 0) -> bytes: ...


class EpisodeSink(Protocol):
    """What OnlineTrainer needs of ptr_core.data.online_buffer.OnlineBuffer."""

    def append(self, traj: Trajectory) -> Any: ...


class OnlineTrainer:
    """Owns the update schedule: credit = utd x transitions received, spent by `train()`.

    `sampler.sample()` yields the beta-mixed batch (ptr_core.data.sampler.MixedSampler over
    [prior, target demos, online buffer]); `buffer.append(traj)` stores the episode on disk
    and makes it visible to the sampler. Every `publish_every` updates the deployable policy's
    weights go to `on_weights(version, payload)` with versions 1, 2, 3, ...
    """

    def __init__(self, agent: Learner, sampler: Any, buffer: EpisodeSink, cfg: OnlineConfig,
                 on_weights: WeightsCallback | None = None,
                 save: Callable[[int], Any] | None = None) -> None:
        self.agent, self.sampler, self.buffer = agent, sampler, buffer
        self.cfg = cfg.validate()
        self.on_weights = on_weights
        self.save = save
        self.credit = 0.0  # updates owed (fractional with a non-integer utd)
        self.env_steps = 0  # online transitions received
        self.episodes = 0
        self.updates = 0
        self.version = 0
        self.last_metrics: dict[str, float] = {}

    @property
    def pending(self) -> int:
        """Whole updates owed to the data received so far."""
        return int(math.floor(self.credit + 1e-9))

    def add_episode(self, traj: Trajectory) -> int:
        """Store a finished episode; returns the updates now pending."""
        self.buffer.append(traj)
        self.env_steps += len(traj)
        self.episodes += 1
        self.credit += self.cfg.utd * len(traj)
        return self.pending

    def step(self) -> dict[str, float]:
        """One update on one beta-mixed batch; publishes when a K boundary is crossed."""
        self.last_metrics = self.agent.update(self.sampler.sample())
        self.updates += 1
        self.credit -= 1.0
        if self.updates % self.cfg.publish_every == 0:
            self.publish()
        if self.save is not None and self.cfg.save_every and self.updates % self.cfg.save_every \
                == 0:
            self.save(self.updates)
        return self.last_metrics

    def train(self, max_updates: int | None = None,
              progress: Callable[[int], Any] | None = None) -> int:
        """Spend the pending credit (at most `max_updates`); returns the updates made."""
        n = self.pending if max_updates is None else min(self.pending, max_updates)
        for _ in range(n):
            self.step()
            if progress is not None:
                progress(1)
        return n

    def publish(self) -> int:
        """A new weights version now (also called at K boundaries)."""
        self.version += 1
        if self.on_weights is not None:
            self.on_weights(self.version, self.agent.policy_state_bytes(self.version))
        if self.save is not None and not self.cfg.save_every:
            self.save(self.updates)
        return self.version

    def summary(self) -> dict[str, Any]:
        return {'episodes': self.episodes, 'env_steps': self.env_steps, 'updates': self.updates,
                'version': self.version, 'pending': self.pending, **self.last_metrics}


def build_trainer(agent_ckpt: str | Path, prior_data: str | Path, target_data: str | Path,
                  target_task: str, online_dir: str | Path, cfg: OnlineConfig,
                  prior_tasks: list[str] | None = None,
                  on_weights: WeightsCallback | None = None,
                  checkpoint_dir: str | Path | None = None) -> OnlineTrainer:
    """Wire the real pieces: the fine-tuned agent (alpha/Cal-QL set for online), the prior and
    target-demo buffers (PTR offline labels), the on-disk online buffer (classifier rewards on the
    same scale) and the three-source MixedSampler.
    """
    from ptr_core.agent import Agent
    from ptr_core.data import Dataset
    from ptr_core.data.augment import Augment
    from ptr_core.data.online_buffer import OnlineBuffer
    from ptr_core.data.rewards import RewardConfig
    from ptr_core.data.sampler import MixedSampler, TransitionBuffer
    from ptr_core.tasks import TaskRegistry

    cfg.validate()
    agent = Agent.load(agent_ckpt, overrides=[f'agent.cql_alpha={cfg.cql_alpha}',
                                              f'agent.calql={str(cfg.calql).lower()}'])
    if agent.tasks is None:
        raise ValueError(f'{agent_ckpt}: tasks: expected a task registry in the checkpoint')
    reg = TaskRegistry.from_dict(agent.tasks)
    if target_task not in reg:
        raise ValueError(f'{agent_ckpt}: task registry: target task {target_task!r} not in '
                         f'{reg.task_names}')
    discount = agent.cfg.agent.discount
    offline = RewardConfig.ptr(discount)
    prior_ds = Dataset(prior_data)
    tasks = [t for t in (prior_tasks or prior_ds.tasks) if t != target_task and t in reg]
    if not tasks:
        raise ValueError(f'{prior_data}: expected prior tasks known to the agent, '
                         f'have {prior_ds.tasks}')
    prior = TransitionBuffer.from_dataset(prior_ds, reg, offline, tasks=tasks)
    target = TransitionBuffer.from_dataset(Dataset(target_data), reg, offline,
                                           tasks=[target_task])
    online = OnlineBuffer(online_dir, reg, RewardConfig.recorded(
        cfg.online_reward_scale, cfg.online_reward_shift, discount))
    augment = Augment(seed=cfg.seed) if agent.cfg.train.augment else None
    sampler = MixedSampler([prior, target, online], list(cfg.beta), cfg.batch_size, augment,
                           cfg.seed)
    save = None
    if checkpoint_dir is not None:
        ckdir = Path(checkpoint_dir)

        def save(updates: int) -> Path:
            return agent.save(ckdir / f'online_{updates:07d}.pt',
                              extra={'online': dataclasses.asdict(cfg)})
    return OnlineTrainer(agent, sampler, online, cfg, on_weights, save)
