"""The online replay buffer: finished episodes on disk, mirrored in memory for sampling.

Why on disk: online fine-tuning on a robot runs for hours across process restarts, and the
episode writer and the trainer may be different processes. Each episode is one dataset shard
(`ROOT/<task>/shard-online<n>/`, ptr_core.data.dataset format) written to a temporary folder and
renamed into place, so a reader never sees half an episode and a crash loses at most the episode
being written. `refresh()` picks up shards written by anyone (this process or another) since the
last call; reopening the folder after a restart restores the whole buffer.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ptr_core.data.dataset import _SHARD_RE, DatasetWriter, TaskDataset
from ptr_core.data.rewards import RewardConfig
from ptr_core.data.sampler import NumpyBatch, TransitionBuffer, _task_id
from ptr_core.data.trajectory import Trajectory


class OnlineBuffer:
    """A growing TransitionSource backed by a folder of one-episode shards."""

    def __init__(self, root: str | Path, task_ids, reward_cfg: RewardConfig | None = None,
                 prefix: str = 'online') -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.task_ids = task_ids
        self.prefix = prefix
        self.buffer = TransitionBuffer(reward_cfg or RewardConfig.recorded())
        self._seen: set[Path] = set()
        self.returns: list[float] = []  # undiscounted labeled return per episode, in load order
        self.successes: list[bool] = []
        self.refresh()

    @property
    def reward_cfg(self) -> RewardConfig:
        return self.buffer.reward_cfg

    def append(self, traj: Trajectory) -> list[Path]:
        """Write one finished episode atomically, then load it; returns the new shard folders."""
        traj.validate(f'online episode of task {traj.task!r}')
        _task_id(self.task_ids, traj.task, None)  # unknown task: fail before writing
        if len(self) and traj.images.shape[1:] != self.buffer.image_shape:
            raise ValueError(f'online episode of task {traj.task!r}: images: expected shape '
                             f'{self.buffer.image_shape}, got {traj.images.shape[1:]}')
        with DatasetWriter(self.root, shard_episodes=1, prefix=self.prefix) as w:
            w.add(traj)
        return self.refresh()

    def refresh(self) -> list[Path]:
        """Load shards that appeared since the last call (in name order per task)."""
        new: list[Path] = []
        for task_dir in sorted(p for p in self.root.iterdir()
                               if p.is_dir() and not p.name.startswith('.')):
            fresh = [p for p in task_dir.iterdir()
                     if p.is_dir() and _SHARD_RE.match(p.name) and p not in self._seen]
            if not fresh:
                continue
            # Open only the new shards: a long run re-reads nothing it already has.
            td = TaskDataset(task_dir, only=fresh)
            tid = _task_id(self.task_ids, td.task, None)
            for i in range(len(td)):
                self._load(td.trajectory(i), tid)
            self._seen.update(td.shard_dirs)
            new.extend(td.shard_dirs)
        return new

    def _load(self, traj: Trajectory, tid: int) -> None:
        self.buffer.extend([traj], {traj.task: tid})
        self.returns.append(float(self.buffer.field('reward')[-len(traj):].sum()))
        self.successes.append(bool(traj.success))

    @property
    def num_episodes(self) -> int:
        return self.buffer.num_trajectories

    def __len__(self) -> int:
        return len(self.buffer)

    def gather(self, idx: np.ndarray) -> NumpyBatch:
        return self.buffer.gather(idx)
