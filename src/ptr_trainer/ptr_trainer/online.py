"""Online fine-tuning: episodes in, CQL updates with beta mixing at a fixed update-to-data ratio,
a new policy-weights version every K updates (PTR section V-F and appendix F).

PTR alternates between collecting one trajectory and taking gradient steps: 10 gradient updates
per environment step, each batch mixing the Bridge (prior) data, the offline target demos and the
online data 0.35 / 0.15 / 0.5, CQL alpha 0.5 online (5 offline), and the CQL regularizer
bounded below by the Monte-Carlo return (Cal-QL) so the conservative initialization does not
unlearn at the start of fine-tuning. Pure: no rclpy; the node calls `ingest` and `train`.
"""
from __future__ import annotations

import copy
import dataclasses
import math
from pathlib import Path
from typing import Any, Callable, Protocol

from ptr_core.data import Trajectory
from ptr_core.online_config import OnlineConfig
from ptr_trainer.guard import GuardConfig, RegressionGuard

WeightsCallback = Callable[[int, bytes], None]


class Learner(Protocol):
    """What OnlineTrainer needs of ptr_core.agent.Agent."""

    def update(self, batch: dict) -> dict[str, float]: ...

    def policy_state_bytes(self, version: int = 0) -> bytes: ...


class EpisodeSink(Protocol):
    """What OnlineTrainer needs of ptr_core.data.online_buffer.OnlineBuffer: both return the
    episodes newly loaded (objects with `.shard` and `.episode`)."""

    def append(self, traj: Trajectory) -> list[Any]: ...

    def refresh(self) -> list[Any]: ...


class OnlineTrainer:
    """Owns the update schedule: credit = utd x transitions received, spent by `train()`.

    `sampler.sample()` yields the beta-mixed batch (ptr_core.data.sampler.MixedSampler over
    [prior, target demos, online buffer]); `buffer.append(traj)` stores the episode on disk
    and makes it visible to the sampler. Every `publish_every` updates the deployable policy's
    weights go to `on_weights(version, payload)` with versions 1, 2, 3, ...

    The first `warmup_episodes` earn no updates (WSRL: the frozen offline policy fills the
    buffer first); the online share of each batch ramps with the online transitions
    (`OnlineConfig.fractions`); the regression guard may restore an earlier version's agent.
    """

    def __init__(self, agent: Learner, sampler: Any, buffer: EpisodeSink, cfg: OnlineConfig,
                 on_weights: WeightsCallback | None = None,
                 save: Callable[[int, dict[str, Any]], Any] | None = None,
                 on_event: Callable[[str], Any] | None = None,
                 telemetry: Any = None) -> None:
        self.agent, self.sampler, self.buffer = agent, sampler, buffer
        self.cfg = cfg.validate()
        self.on_weights = on_weights
        self.save = save
        self.saved_at = 0  # updates at the last checkpoint
        self.on_event = on_event or (lambda text: None)
        self.telemetry = telemetry  # ptr_trainer.telemetry.Telemetry or None
        self.credit = 0.0  # updates owed (fractional with a non-integer utd)
        self.env_steps = 0  # online transitions received
        self.episodes = 0
        self.runs: dict[str, int] = {}  # episodes per episode-writer run (meta 'run')
        self.taken: set[str] = set()  # shards counted (their credit given), '<task>/<shard>'
        self.updates = 0
        self.version = 0
        self.last_metrics: dict[str, float] = {}
        self.guard = RegressionGuard(GuardConfig(cfg.guard, cfg.guard_window, cfg.guard_drop,
                                                 cfg.guard_significance))
        self.rollbacks = 0
        # Agent states by published version (0: the offline start) for the guard's rollback.
        self._snapshots: dict[int, dict[str, Any]] = {}
        self._snapshot()
        self._set_fractions()

    @property
    def pending(self) -> int:
        """Whole updates owed to the data received so far."""
        return int(math.floor(self.credit + 1e-9))

    def _set_fractions(self) -> None:
        if hasattr(self.sampler, 'set_fractions'):
            self.sampler.set_fractions(self.cfg.fractions(self.env_steps))

    def _snapshot(self) -> None:
        if self.cfg.guard and hasattr(self.agent, 'state'):
            self._snapshots[self.version] = copy.deepcopy(self.agent.state())
            # Only the best version and those not yet judged can become a rollback target.
            last = self.guard.recent[-1][0] if self.guard.recent else 0
            for v in [v for v in self._snapshots if v < last and v != self.guard.best_version]:
                del self._snapshots[v]

    def add_episode(self, traj: Trajectory) -> int:
        """Store a finished episode (and take any other new one); returns the updates pending."""
        self._take(self.buffer.append(traj))
        return self.pending

    def ingest(self) -> int:
        """Take the episodes that appeared in the buffer's folder (written by the robot's episode
        manager or unpacked from a transfer); returns how many were new to this run."""
        return self._take(self.buffer.refresh())

    def _take(self, loaded: list[Any]) -> int:
        """Count each loaded episode once: one a resumed checkpoint already counted is only
        sampled from (`taken` holds the shard names, `<task>/<shard>`)."""
        new = 0
        for x in loaded:
            name = f'{Path(x.shard).parent.name}/{Path(x.shard).name}'
            if name in self.taken:
                continue
            self.taken.add(name)
            self._count(x.episode)
            new += 1
        return new

    def progress(self) -> dict[str, Any]:
        """What a checkpoint keeps so a restarted trainer loses and repeats nothing."""
        return {'episodes': self.episodes, 'env_steps': self.env_steps, 'updates': self.updates,
                'version': self.version, 'credit': self.credit, 'runs': dict(self.runs),
                'rollbacks': self.rollbacks, 'shards': sorted(self.taken)}

    def restore(self, progress: dict[str, Any]) -> None:
        """Continue from `progress()` of a checkpoint: counters, the weights version (the policy
        only takes newer ones) and the episodes already counted."""
        self.episodes, self.env_steps = int(progress['episodes']), int(progress['env_steps'])
        self.updates, self.version = int(progress['updates']), int(progress['version'])
        self.credit, self.rollbacks = float(progress['credit']), int(progress['rollbacks'])
        self.runs = {str(k): int(v) for k, v in progress['runs'].items()}
        self.taken = set(progress['shards'])
        self.saved_at = self.updates
        self._set_fractions()
        self._snapshot()

    def _count(self, traj: Any) -> None:
        """Credit, fractions, telemetry and the guard for one newly stored episode."""
        run = str(traj.meta.get('run', ''))
        self.runs[run] = self.runs.get(run, 0) + 1
        self.env_steps += len(traj)
        self.episodes += 1
        if self.episodes > self.cfg.warmup_episodes:
            self.credit += self.cfg.utd * len(traj)
        self._set_fractions()
        version = int(traj.meta.get('weights_version', self.version))
        if self.telemetry is not None:
            self.telemetry.episode(self.episodes, self.env_steps, traj, version)
        decision = self.guard.record(version, bool(traj.success))
        if decision is not None and decision.to_version in self._snapshots:
            self.rollback(decision.to_version, decision.reason)

    def rollback(self, version: int, reason: str) -> int:
        """Restore the agent saved at `version` and deploy it as a new version."""
        self.agent.load_state(self._snapshots[version], 'rollback snapshot', restore_rng=False)
        self.rollbacks += 1
        new = self.publish()
        self.on_event(f'{reason}; restored as v{new}')
        if self.telemetry is not None:
            self.telemetry.event(self.updates, f'{reason}; restored as v{new}')
        return new

    def step(self) -> dict[str, float]:
        """One update on one beta-mixed batch; publishes when a K boundary is crossed."""
        self.last_metrics = self.agent.update(self.sampler.sample())
        self.updates += 1
        self.credit -= 1.0
        if self.telemetry is not None:
            self.telemetry.update(self.updates, self.last_metrics)
            if self.cfg.telemetry_every and self.updates % self.cfg.telemetry_every == 0:
                self.telemetry.probe(self.updates, self.agent)
        if self.updates % self.cfg.publish_every == 0:
            self.publish()
        if self.save is not None and self.cfg.save_every and self.updates % self.cfg.save_every \
                == 0:
            self._save()
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
            self._save()
        self._snapshot()
        return self.version

    def _save(self) -> None:
        self.save(self.updates, self.progress())  # type: ignore[misc]
        self.saved_at = self.updates

    def checkpoint_now(self) -> bool:
        """Save the agent if it changed since the last checkpoint (the node calls this when it
        stops, so a restart resumes from the last update, not the last published version)."""
        if self.save is None or self.updates == self.saved_at:
            return False
        self._save()
        return True

    def summary(self) -> dict[str, Any]:
        return {'episodes': self.episodes, 'env_steps': self.env_steps, 'updates': self.updates,
                'version': self.version, 'pending': self.pending, 'rollbacks': self.rollbacks,
                'guard': self.guard.state(), 'runs': dict(self.runs),
                # how much of the learning came from the robot's own episodes
                'sampled_online': int(getattr(self.sampler, 'drawn', [0])[-1]),
                **self.last_metrics}


def latest_online_checkpoint(checkpoint_dir: str | Path | None) -> Path | None:
    """The newest `online_<updates>.pt` a trainer of this run saved, or None."""
    if checkpoint_dir is None:
        return None
    found = sorted(Path(checkpoint_dir).glob('online_*.pt'))
    return found[-1] if found else None


def _load_agent(agent_ckpt: str | Path, cfg: OnlineConfig, target_task: str,
                say: Callable[[str], Any], resume_from: Path | None = None
                ) -> tuple[Any, Any, dict[str, Any] | None]:
    """The fine-tuned agent with the online settings applied (each change said), or, resuming,
    the run's own newest checkpoint as it was saved (its learned temperature and optimizers, not
    re-overridden); its task registry, which must know the target task; the saved progress."""
    from ptr_core.agent import Agent
    from ptr_core.task_registry import TaskRegistry
    if resume_from is not None:
        agent = Agent.load(resume_from)
        path: str | Path = resume_from
        say(f'online: resuming from {resume_from}')
    else:
        agent, path = Agent.load(agent_ckpt, changes=cfg.agent_changes()), agent_ckpt
        for key, (old, new) in agent.changed_settings.items():
            say(f'online: {key} {old!r} -> {new!r}')
    if cfg.mode == 'residual':
        from ptr_core.learners.residual import ResidualLearner
        if resume_from is None and agent.loaded_extra.get('residual') is not None:
            raise ValueError(f'{path}: extra.residual: start the residual mode from the '
                             f'offline agent, not from a residual run')
        keep = cfg.residual_conservative
        agent = ResidualLearner(agent, cfg.residual_settings(), cfg.residual_lr,
                                cfg.residual_q_lr, cfg.residual_reg,
                                cfg.cql_alpha if keep else 0.0, cfg.calql and keep)
        say(f'online: residual mode, bound {cfg.residual_bound:g}, '
            f'{cfg.residual_samples} ranked proposals, the offline policy frozen')
    elif agent.loaded_extra.get('residual') is not None:
        raise ValueError(f'{path}: extra.residual: a residual run continues only with '
                         f"mode 'residual', got {cfg.mode!r}")
    if agent.tasks is None:
        raise ValueError(f'{path}: tasks: expected a task registry in the checkpoint')
    reg = TaskRegistry.from_dict(agent.tasks)
    if target_task not in reg:
        raise ValueError(f'{path}: task registry: target task {target_task!r} not in '
                         f'{reg.task_names}')
    progress = agent.loaded_extra.get('progress') if resume_from is not None else None
    return agent, reg, progress


def _checkpointer(agent: Any, cfg: OnlineConfig, checkpoint_dir: str | Path | None
                  ) -> Callable[[int, dict[str, Any]], Path] | None:
    """save(updates, progress): the agent, the online settings and the trainer's progress as
    CHECKPOINT_DIR/online_<updates>.pt (what `latest_online_checkpoint` resumes from)."""
    if checkpoint_dir is None:
        return None
    ckdir = Path(checkpoint_dir)

    def save(updates: int, progress: dict[str, Any]) -> Path:
        return agent.save(ckdir / f'online_{updates:07d}.pt',
                          extra={'online': dataclasses.asdict(cfg), 'progress': progress})
    return save


def build_trainer(agent_ckpt: str | Path, prior_data: str | Path, target_data: str | Path,
                  target_task: str, online_dir: str | Path, cfg: OnlineConfig,
                  prior_tasks: list[str] | None = None,
                  on_weights: WeightsCallback | None = None,
                  checkpoint_dir: str | Path | None = None,
                  on_event: Callable[[str], Any] | None = None,
                  telemetry_dir: str | Path | None = None, resume: bool = True
                  ) -> OnlineTrainer:
    """Wire the real pieces: the fine-tuned agent (alpha/Cal-QL set for online), the prior and
    target-demo buffers (PTR offline labels), the on-disk online buffer (classifier rewards on the
    same scale) and the three-source MixedSampler. With `resume` and a checkpoint of this run in
    `checkpoint_dir`, the trainer continues from it: nothing it counted is counted again, every
    episode stored since is taken, the weights versions go on.
    """
    from ptr_core.data import Dataset
    from ptr_core.data.augment import Augment
    from ptr_core.data.online_buffer import OnlineBuffer
    from ptr_core.data.rewards import RewardConfig
    from ptr_core.data.sampler import MixedSampler, TransitionBuffer

    cfg.validate()
    say = on_event or print
    agent, reg, progress = _load_agent(agent_ckpt, cfg, target_task, say,
                                       latest_online_checkpoint(checkpoint_dir) if resume
                                       else None)
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
    # The same labels as the offline demos (last n transitions of a success, terminal) unless
    # asked for the classifier's per-step rewards; MC returns bootstrap truncations alike.
    labels = (RewardConfig(scale=cfg.reward_scale, shift=cfg.reward_shift, discount=discount)
              if cfg.labels == 'last_n' else
              RewardConfig.recorded(cfg.reward_scale, cfg.reward_shift, discount))
    # Episodes already in the folder are taken by the first ingest(): counted unless the resumed
    # checkpoint had counted them (a fresh start from agent_ckpt trains on every one).
    online = OnlineBuffer(online_dir, reg, labels, load_existing=False)
    augment = Augment(seed=cfg.seed) if agent.cfg.train.augment else None
    sampler = MixedSampler([prior, target, online], list(cfg.beta), cfg.batch_size, augment,
                           cfg.seed)
    save = _checkpointer(agent, cfg, checkpoint_dir)
    telemetry = None
    if telemetry_dir is not None:
        from ptr_trainer.telemetry import Telemetry
        telemetry = Telemetry(telemetry_dir, {'prior': prior, 'demos': target, 'online': online},
                              cfg.batch_size, seed=cfg.seed)
    trainer = OnlineTrainer(agent, sampler, online, cfg, on_weights, save, on_event, telemetry)
    if progress is not None:
        trainer.restore(progress)
        say(f'online: resumed at update {trainer.updates}, weights v{trainer.version}, '
            f'{trainer.episodes} episodes counted')
    return trainer
