"""The online replay buffer: a folder of one-episode shards, mirrored in memory for sampling.

Why on disk: online fine-tuning on a robot runs for hours across process restarts, and the
episode writer and the trainer may be different processes. Each episode is one dataset shard
(`ROOT/<task>/shard-<prefix><n>/`, ptr_core.data.dataset format), written to a temporary folder and
renamed into place by whoever recorded it, so a reader never sees half an episode and a crash loses
at most the episode being written. The folder is the only copy: `refresh()` loads the shards that
appeared since the last call (written by this process, the robot's episode manager on a shared
disk, or unpacked from a transfer), so there is no second store and no ledger of what was taken.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ptr_core.data.dataset import SHARD_RE, DatasetError, DatasetWriter, TaskDataset
from ptr_core.data.rewards import RewardConfig
from ptr_core.data.sampler import NumpyBatch, TransitionBuffer, task_id_of
from ptr_core.data.trajectory import Trajectory


@dataclass(frozen=True)
class StoredEpisode:
    """What the learner needs to know of a loaded episode, without its images: holding 10,000
    trajectories (each a view on memory-mapped files) would hold 50,000 open files and their
    pixels; the pixels are in the buffer already."""

    task: str
    length: int
    success: bool
    rewards: np.ndarray  # the recorded (classifier) rewards
    meta: dict

    def __len__(self) -> int:
        return self.length


class Loaded(NamedTuple):
    """An episode `refresh()` loaded, and the shard it came from."""

    shard: Path
    episode: StoredEpisode


class OnlineBuffer:
    """A growing TransitionSource backed by a folder of one-episode shards."""

    def __init__(self, root: str | Path, task_ids, reward_cfg: RewardConfig | None = None,
                 prefix: str = 'online', load_existing: bool = True) -> None:
        """`load_existing=False` leaves shards already in the folder to the first `refresh()`,
        whose caller then sees them as new (a restarted trainer trains on them again)."""
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.task_ids = task_ids
        self.prefix = prefix
        self.buffer = TransitionBuffer(reward_cfg or RewardConfig.recorded())
        self._seen: set[Path] = set()
        self.returns: list[float] = []  # undiscounted labeled return per episode, in load order
        self.successes: list[bool] = []
        self.rejected: list[str] = []  # one line per shard that could not be used
        if load_existing:
            self.refresh()

    @property
    def reward_cfg(self) -> RewardConfig:
        return self.buffer.reward_cfg

    def append(self, traj: Trajectory) -> list[Loaded]:
        """Write one finished episode atomically, then load it (and any other new shard)."""
        traj.validate(f'online episode of task {traj.task!r}')
        task_id_of(self.task_ids, traj.task, None)  # unknown task: fail before writing
        self._check_images(traj, f'online episode of task {traj.task!r}')
        with DatasetWriter(self.root, shard_episodes=1, prefix=self.prefix) as w:
            w.add(traj)
        return self.refresh()

    def _check_images(self, traj: Trajectory, where: str) -> None:
        if len(self) and traj.images.shape[1:] != self.buffer.image_shape:
            raise ValueError(f'{where}: images: expected shape {self.buffer.image_shape}, got '
                             f'{traj.images.shape[1:]}')

    def refresh(self) -> list[Loaded]:
        """Load shards that appeared since the last call (in name order per task). A shard that
        cannot be used (unknown task, other image size, damaged) is skipped once and said in
        `rejected`: one bad episode must not stop the learner."""
        new: list[Loaded] = []
        for task_dir in sorted(p for p in self.root.iterdir()
                               if p.is_dir() and not p.name.startswith('.')):
            for shard in sorted(p for p in task_dir.iterdir()
                                if p.is_dir() and SHARD_RE.match(p.name) and p not in self._seen):
                self._seen.add(shard)
                try:
                    new.extend(self._load_shard(task_dir, shard))
                except (DatasetError, KeyError, ValueError) as e:
                    self.rejected.append(f'{shard}: {str(e).strip(chr(39))}')
        return new

    def _load_shard(self, task_dir: Path, shard: Path) -> list[Loaded]:
        td = TaskDataset(task_dir, only=[shard])  # a long run re-reads nothing it already has
        tid = task_id_of(self.task_ids, td.task, None)
        trajs = [td.trajectory(i) for i in range(len(td))]
        for traj in trajs:
            self._check_images(traj, str(shard))
        out = []
        for traj in trajs:
            self.buffer.extend([traj], {traj.task: tid})  # copies: the shard's files close
            self.returns.append(float(self.buffer.field('reward')[-len(traj):].sum()))
            self.successes.append(bool(traj.success))
            out.append(Loaded(shard, StoredEpisode(traj.task, len(traj), bool(traj.success),
                                                   np.array(traj.rewards), dict(traj.meta))))
        return out

    @property
    def num_episodes(self) -> int:
        return self.buffer.num_trajectories

    def __len__(self) -> int:
        return len(self.buffer)

    def gather(self, idx: np.ndarray) -> NumpyBatch:
        return self.buffer.gather(idx)
