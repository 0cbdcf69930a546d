"""The project's dataset format: per-task folders of immutable shards of memory-mappable arrays.

    ROOT/<task>/shard-<prefix><n:06d>/
        images.npy     uint8   (sum(T+1), H, W, 3)   observations, episode after episode
        states.npy     float32 (sum(T+1), 7)
        actions.npy    float32 (sum(T), 7)            normalized to [-1, 1]
        rewards.npy    float32 (sum(T),)
        terminals.npy  bool    (sum(T),)
        index.json     {"format", "task",
                        "episodes": [{obs_start, act_start, length, success, meta}]}

Why: Bridge-scale data (60k trajectories) must not be loaded into RAM; np.load(mmap_mode='r') on
flat arrays gives O(1) random access to any transition, and a shard is written to a temporary
folder and renamed into place, so a reader never sees a partial shard and a crash loses only the
shard in progress. Several writers (collection workers) append to one task with distinct prefixes.
"""
from __future__ import annotations

import io
import json
import re
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from ptr_core.atomic import atomic_dir
from ptr_core.data.trajectory import Trajectory

FORMAT = 'ptr-dataset/1'
ARRAYS = ('images', 'states', 'actions', 'rewards', 'terminals')
SHARD_RE = re.compile(r'^shard-(.*?)(\d{6})$')


class DatasetError(ValueError):
    """A dataset on disk is missing, malformed or inconsistent (the message names file, field)."""


class DatasetWriter:
    """Append trajectories of any tasks under ROOT; flushes a shard every `shard_episodes`."""

    def __init__(self, root: str | Path, shard_episodes: int = 64, prefix: str = '') -> None:
        if not re.fullmatch(r'[A-Za-z0-9_-]*', prefix):
            raise ValueError(f'shard prefix: expected letters, digits, _ or -, got {prefix!r}')
        self.root = Path(root)
        self.shard_episodes = int(shard_episodes)
        self.prefix = prefix
        self._pending: dict[str, list[Trajectory]] = {}
        self.written = 0
        self.shards: list[Path] = []  # the shard folders written, in order

    def add(self, traj: Trajectory) -> None:
        traj.validate(f'trajectory of task {traj.task!r}')
        if not re.fullmatch(r'[A-Za-z0-9_.-]+', traj.task):
            raise ValueError(f'task name: expected letters, digits, ., _ or -, got {traj.task!r}')
        pending = self._pending.setdefault(traj.task, [])
        if pending and pending[0].images.shape[1:] != traj.images.shape[1:]:
            raise ValueError(f'trajectory of task {traj.task!r}: images: expected '
                             f'{pending[0].images.shape[1:]} like the rest of the shard, '
                             f'got {traj.images.shape[1:]}')
        pending.append(traj)
        if len(pending) >= self.shard_episodes:
            self._flush(traj.task)

    def _next_shard(self, task_dir: Path) -> Path:
        taken = [int(m.group(2)) for p in task_dir.glob(f'shard-{self.prefix}*')
                 if (m := SHARD_RE.match(p.name)) and m.group(1) == self.prefix]
        return task_dir / f'shard-{self.prefix}{max(taken, default=-1) + 1:06d}'

    def _flush(self, task: str) -> None:
        trajs = self._pending.pop(task, [])
        if not trajs:
            return
        episodes, obs, act = [], 0, 0
        for tr in trajs:
            episodes.append({'obs_start': obs, 'act_start': act, 'length': len(tr),
                             'success': bool(tr.success), 'meta': tr.meta})
            obs += len(tr) + 1
            act += len(tr)
        shard = self._next_shard(self.root / task)
        with atomic_dir(shard) as tmp:
            for name in ARRAYS:
                np.save(tmp / f'{name}.npy', np.concatenate([getattr(t, name) for t in trajs]))
            (tmp / 'index.json').write_text(json.dumps(
                {'format': FORMAT, 'task': task, 'episodes': episodes}, indent=1))
        self.written += len(trajs)
        self.shards.append(shard)

    def close(self) -> None:
        for task in list(self._pending):
            self._flush(task)

    def __enter__(self) -> 'DatasetWriter':
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        # Flush what is complete even on error: every pending trajectory is whole.
        self.close()


def open_shard(sd: Path) -> tuple[dict, dict[str, np.ndarray]]:
    """A shard's index and memory-mapped arrays, checked against each other."""
    index_path = sd / 'index.json'
    try:
        index = json.loads(index_path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise DatasetError(f'{index_path}: unreadable index ({e})') from None
    if not isinstance(index, dict) or index.get('format') != FORMAT:
        got = index.get('format') if isinstance(index, dict) else type(index).__name__
        raise DatasetError(f'{index_path}: format: expected {FORMAT!r}, got {got!r}')
    arrays = {}
    for name in ARRAYS:
        path = sd / f'{name}.npy'
        if not path.exists():
            raise DatasetError(f'{path}: missing array {name!r}')
        try:
            arrays[name] = np.load(path, mmap_mode='r', allow_pickle=False)
        except ValueError as e:
            raise DatasetError(f'{path}: unreadable array ({e})') from None
    try:
        n_act = sum(int(e['length']) for e in index['episodes'])
        n_obs = n_act + len(index['episodes'])
    except (KeyError, TypeError, ValueError) as e:
        raise DatasetError(f'{index_path}: episodes: expected a list of {{length, ...}} ({e})') \
            from None
    if any(arrays[k].shape[0] != n_act for k in ('actions', 'rewards', 'terminals')) or any(
            arrays[k].shape[0] != n_obs for k in ('images', 'states')):
        raise DatasetError(f'{sd}: arrays disagree with index.json '
                           f'({arrays["actions"].shape[0]} actions, index says {n_act})')
    return index, arrays


SHARD_FILES = tuple(f'{name}.npy' for name in ARRAYS) + ('index.json',)
SHARD_NAME_RE = re.compile(r'^[A-Za-z0-9_.-]+/shard-[A-Za-z0-9_-]*\d{6}$')


def pack_shard(shard_dir: str | Path) -> bytes:
    """One shard folder as bytes (an uncompressed tar of its files in a fixed order, no owner
    or time), to send it where the folder cannot be read; `unpack_shard` restores it."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode='w', format=tarfile.USTAR_FORMAT) as tar:
        for name in SHARD_FILES:
            data = (Path(shard_dir) / name).read_bytes()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def unpack_shard(data: bytes, root: str | Path, name: str) -> Path | None:
    """Store packed shard bytes as ROOT/name (`<task>/shard-...`), atomically and checked; None
    when that shard is already there (a resent episode is stored once)."""
    if not SHARD_NAME_RE.match(name):
        raise DatasetError(f'shard name: expected <task>/shard-<prefix><6 digits>, got {name!r}')
    final = Path(root) / name
    if final.exists():
        return None
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode='r:') as tar:
            members = tar.getmembers()
            if sorted(m.name for m in members) != sorted(SHARD_FILES) or not all(
                    m.isfile() for m in members):
                raise DatasetError(f'{name}: expected the files {list(SHARD_FILES)}, got '
                                   f'{[m.name for m in members]}')
            with atomic_dir(final) as tmp:
                for m in members:
                    (tmp / m.name).write_bytes(tar.extractfile(m).read())  # type: ignore[union-attr]
                open_shard(tmp)
    except tarfile.TarError as e:
        raise DatasetError(f'{name}: not a packed shard ({e})') from None
    return final


@dataclass(frozen=True)
class EpisodeRef:
    """Where one episode lives: its shard and its rows in the shard's arrays."""

    shard: int
    obs_start: int
    act_start: int
    length: int
    success: bool
    meta: dict


class TaskDataset:
    """All shards of one task, memory-mapped; trajectories are read on demand."""

    def __init__(self, task_dir: str | Path, only: Iterable[Path] | None = None) -> None:
        """Open every shard of the task folder, or just the shard folders in `only`."""
        self.dir = Path(task_dir)
        self.task = self.dir.name
        self.shards: list[dict[str, np.ndarray]] = []
        self.episodes: list[EpisodeRef] = []
        if only is None:
            shard_dirs = sorted(p for p in self.dir.iterdir()
                                if p.is_dir() and SHARD_RE.match(p.name))
        else:  # without listing the folder: an online buffer opens one shard of thousands
            shard_dirs = sorted({self.dir / Path(p).name for p in only
                                 if SHARD_RE.match(Path(p).name)
                                 and (self.dir / Path(p).name).is_dir()})
        if not shard_dirs:
            raise DatasetError(f'{self.dir}: expected shard-* folders, found none')
        self.shard_dirs: list[Path] = shard_dirs
        for si, sd in enumerate(shard_dirs):
            index, arrays = open_shard(sd)
            self.shards.append(arrays)
            for e in index['episodes']:
                self.episodes.append(EpisodeRef(si, e['obs_start'], e['act_start'], e['length'],
                                                bool(e['success']), e.get('meta', {})))

    @property
    def image_shape(self) -> tuple[int, ...]:
        return tuple(self.shards[0]['images'].shape[1:])

    @property
    def num_transitions(self) -> int:
        return sum(e.length for e in self.episodes)

    def __len__(self) -> int:
        return len(self.episodes)

    def trajectory(self, i: int) -> Trajectory:
        e = self.episodes[i]
        a = self.shards[e.shard]
        o = slice(e.obs_start, e.obs_start + e.length + 1)
        t = slice(e.act_start, e.act_start + e.length)
        return Trajectory(images=np.asarray(a['images'][o]), states=np.asarray(a['states'][o]),
                          actions=np.asarray(a['actions'][t]), rewards=np.asarray(a['rewards'][t]),
                          terminals=np.asarray(a['terminals'][t]), task=self.task,
                          success=e.success, meta=dict(e.meta))

    def split_indices(self, split: str | None, val_fraction: float = 0.1) -> list[int]:
        """Deterministic per-task split: every round(1/val_fraction)-th episode is validation.

        An episode whose meta names its split (meta['split']) keeps that split instead.
        """
        if split is None:
            return list(range(len(self)))
        if split not in ('train', 'val'):
            raise ValueError(f"split: expected 'train', 'val' or None, got {split!r}")
        every = max(2, round(1.0 / val_fraction)) if val_fraction > 0 else 0
        # Bridge's train/val folders survive conversion through meta['split'].
        is_val = [e.meta['split'] == 'val' if e.meta.get('split') in ('train', 'val')
                  else every > 0 and (i % every) == every - 1
                  for i, e in enumerate(self.episodes)]
        return [i for i, v in enumerate(is_val) if v == (split == 'val')]

    def __iter__(self) -> Iterator[Trajectory]:
        for i in range(len(self)):
            yield self.trajectory(i)


class Dataset:
    """A dataset root: one TaskDataset per task folder (task names come from the folder names)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise DatasetError(f'{self.root}: expected a dataset folder, not found')
        self.by_task = {p.name: TaskDataset(p) for p in sorted(self.root.iterdir())
                        if p.is_dir() and not p.name.startswith('.')}
        if not self.by_task:
            raise DatasetError(f'{self.root}: expected task folders with shards, found none')

    @property
    def tasks(self) -> list[str]:
        return list(self.by_task)

    def __getitem__(self, task: str) -> TaskDataset:
        try:
            return self.by_task[task]
        except KeyError:
            raise DatasetError(
                f'{self.root}: task {task!r} not found; have {self.tasks}') from None

    def trajectories(self, tasks: list[str] | None = None, split: str | None = None,
                     val_fraction: float = 0.1) -> Iterator[Trajectory]:
        for task in tasks or self.tasks:
            td = self[task]
            for i in td.split_indices(split, val_fraction):
                yield td.trajectory(i)

    @property
    def num_transitions(self) -> int:
        return sum(t.num_transitions for t in self.by_task.values())
